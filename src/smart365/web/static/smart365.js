// Behaviours every page may use, declared with data- attributes: the Content-Security-Policy runs no inline
// event handler (onclick="…"), so pages mark the element and this file, loaded by base.html, acts on it.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
