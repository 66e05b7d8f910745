/* What Flask-Admin's templates did with inline handlers, bound from here instead.
 *
 * The desk's Content-Security-Policy runs no inline code (no onclick=, no
 * javascript: links), so the templates under templates/admin/ carry data-
 * attributes and this one listener on the document does the work:
 *   data-confirm="…"        ask first; a "Cancel" stops the click (a delete button)
 *   data-list-action="name" run a list action on the ticked rows (Flask-Admin's actions.js)
 *   data-inline-add="id"    add an inline sub-form (Flask-Admin's form.js)
 *   data-print              print the page (key labels)
 *   <a href="#" role="button">  a link that only works in the page never navigates to "#"
 * Delegated, so it also serves elements added later and needs no load order; and
 * listening while the click comes down (capture), because Flask-Admin's dropdown
 * script stops a toggle's click before it would bubble up to the document.
 */
(function () {
  "use strict";

  function ask(message) {
    // Some embedded browsers throw instead of showing a dialog: then nothing is done.
    try {
      return window.confirm(message);
    } catch (error) {
      return false;
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    var confirmer = target.closest("[data-confirm]");
    if (confirmer && !ask(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var action = target.closest("[data-list-action]");
    if (action && window.modelActions) {
      event.preventDefault();
      window.modelActions.execute(action.getAttribute("data-list-action"));
      return;
    }
    var inlineAdd = target.closest("[data-inline-add]");
    if (inlineAdd && window.faForm) {
      event.preventDefault();
      window.faForm.addInlineField(inlineAdd, inlineAdd.getAttribute("data-inline-add"));
      return;
    }
    if (target.closest("[data-print]")) {
      event.preventDefault();
      window.print();
      return;
    }
    if (target.closest('a[href="#"][role="button"]')) {
      event.preventDefault();
    }
  }, true);
}());
