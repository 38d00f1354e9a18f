// The pipeline board: drag a card onto another stage's column; the move is posted (with the page's
// CSRF token) to the board's move URL, which calls the opportunities service; the board then reloads.
// Without JavaScript each card keeps its own "Move" form.
(function () {
  "use strict";
  var board = document.querySelector(".sales-board[data-move-url]");
  if (!board) { return; }
  var dragged = null;
  document.querySelectorAll(".crm-js-only").forEach(function (el) { el.classList.remove("d-none"); });

  function show(message) {
    var box = document.getElementById("sales-board-message");
    box.textContent = message;
    box.classList.remove("d-none");
  }

  function move(card, column) {
    var body = new URLSearchParams();
    body.set("csrf_token", board.getAttribute("data-csrf"));
    body.set("opportunity_id", card.getAttribute("data-opportunity"));
    body.set("stage_id", column.getAttribute("data-stage-id"));
    card.classList.add("sales-moving");
    fetch(board.getAttribute("data-move-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": board.getAttribute("data-csrf")}
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok && data.ok, data: data}; });
    }).then(function (result) {
      if (result.ok) { window.location.reload(); return; }
      card.classList.remove("sales-moving");
      show(result.data.message);
    }).catch(function () {
      card.classList.remove("sales-moving");
      show(board.getAttribute("data-failed"));
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".sales-card[draggable=true]");
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-opportunity"));
    card.classList.add("sales-dragging");
  });
  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("sales-dragging"); }
    dragged = null;
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".sales-column");
    if (!dragged || !column) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("border-primary");
  });
  board.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".sales-column");
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("border-primary"); }
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".sales-column");
    if (!dragged || !column) { return; }
    event.preventDefault();
    column.classList.remove("border-primary");
    var card = dragged;
    dragged = null;
    if (card.closest(".sales-column") !== column) { move(card, column); }
  });
}());
