import { Grid } from "./grid.js";

const container = document.getElementById("grid");
if (container && !container.dataset.manual) {
  const grid = new Grid(container, document.getElementById("grid-sentinel"), document.getElementById("grid-empty"));
  grid.load(container.dataset.query);
}
