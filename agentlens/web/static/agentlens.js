// AgentLens pages work without this script; it only adds conveniences.
// It never writes markup: data on the page stays text.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // "Expand all" / "Collapse all" on the timeline.
  for (const button of document.querySelectorAll("button[data-expand]")) {
    button.addEventListener("click", () => {
      const open = button.dataset.expand === "open";
      for (const details of document.querySelectorAll(".timeline details")) {
        details.open = open;
      }
    });
  }

  // Filter forms: leave blank fields out of the URL.
  for (const form of document.querySelectorAll("form.filters")) {
    form.addEventListener("submit", () => {
      for (const field of form.querySelectorAll("input, select")) {
        if (field.name && field.value.trim() === "") {
          field.disabled = true;
        }
      }
    });
  }
});

// Leaving a page and coming back with the history buttons restores the form as sent.
window.addEventListener("pageshow", () => {
  for (const field of document.querySelectorAll("form.filters [disabled]")) {
    field.disabled = false;
  }
});
