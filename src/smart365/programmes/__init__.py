"""Support programmes (지원사업): calls (공고), applications, eligibility, reviewers' scores and the selection
within the budget as an optimisation, explained per firm."""
