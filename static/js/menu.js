// Narrow screens (under 640px): the header's links fold behind a "Menu" button. Without
// JavaScript the links simply stay visible.
const header = document.querySelector(".site-header");
const button = header && header.querySelector("[data-menu-button]");
if (button) {
  header.classList.add("menu-collapsible");
  button.hidden = false;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    header.classList.toggle("menu-open", open);
  });
}
