// A cell the list's CSS cuts with an ellipsis gets its whole text as a title, shown on hover.
document.addEventListener("DOMContentLoaded", () => {
  const selector = "#result_list td a, #result_list th a, #result_list td, #result_list .cut";
  for (const element of document.querySelectorAll(selector)) {
    if (!element.title && element.scrollWidth > element.clientWidth + 1) {
      element.title = element.textContent.trim();
    }
  }
});
