"""Smart365 센터 (the programme centre): helpdesk, experts and assignment, SLAs, support priorities.

Owns the pure logic behind the consultation centre that takes firms' pain points (애로사항) as tickets:

- :mod:`~smart365.centre.categories`: ticket categories and their SLA targets (data in ``data/categories.yaml``)
  and the synthetic seed tickets (``data/seed_tickets.yaml``);
- :mod:`~smart365.centre.text`: Korean tokenisation into content morphemes (kiwipiepy) and sparse term counts;
- :mod:`~smart365.centre.classify`: the ticket category classifier (TF-IDF → logistic regression), its
  pickle-free saved state and its evaluation (stratified held-out split, k-fold CV);
- :mod:`~smart365.centre.similar`: similar past cases by BM25 over morphemes, and near-duplicate statistics;
- :mod:`~smart365.centre.assign`: dedicated expert (전담 전문가) assignment as an optimisation, and routing
  of one ticket to the best available expert;
- :mod:`~smart365.centre.sla`: the business-hours calendar (Asia/Seoul, Korean public holidays) and SLA status;
- :mod:`~smart365.centre.priority`: ranking firms for priority technical support (weights in
  ``data/priority_weights.yaml``).

Its tables, API and pages (``models``, ``api``, ``pages``) import ``core``, ``registry``, ``assessment`` (a
firm's level for priorities) and the web seam.
"""
