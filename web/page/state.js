// state.js — the page's shared state: the engine, which model is loaded and
// whether a run is going. Modules change it through their own functions
// (model.js owns wt/model/source/info, training.js owns run/paused); every
// module may read it.

export const state = {
  /** wt is the WebTune engine (webtune.js), null until started. */
  wt: null,
  /** workers is how many workers wt trains on. */
  workers: 1,
  /** engineChoice is the Engine choice wt was started with (auto, webgpu, cpu). */
  engineChoice: "auto",
  /** model is the loaded Model (webtune.js), null while none is. */
  model: null,
  /** source is where model came from: {kind: "builtin"|"file"|…, name, bytes?}. */
  source: { kind: "builtin", name: "builtin" },
  /** info is model.info() of the loaded model. */
  info: null,
  /** hasAdapter says whether the loaded model carries a LoRA adapter. */
  hasAdapter: false,
  /** chat is true for a model with a chat template: Try it is a chat box. */
  chat: false,
  /** run is the training run in progress (webtune.js Run) or null. */
  run: null,
  /** paused says whether run is paused. */
  paused: false,
  /** busy is true while a model loads or a run starts: controls are disabled. */
  busy: false,
};
