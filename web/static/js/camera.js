// How a camera is named on every page: "Canon EOS 40D", not "Canon Canon EOS 40D" (the model often repeats the
// make, or its first word: NIKON CORPORATION's "NIKON D70").  The same rule as pva.services.search.camera_name.
export function cameraText(make, model) {
  make = (make || "").trim();
  model = (model || "").trim();
  if (!make) return model;
  if (!model) return make;
  const first = make.split(/\s+/)[0].toLowerCase();
  return model.toLowerCase().startsWith(first) ? model : `${make} ${model}`;
}
