// TypeScript declarations for webtune.js: LoRA/QLoRA fine-tuning of small
// llama models in the browser (Go compiled to wasm, in a Web Worker).
// Every method returns a Promise; a failure rejects with a WebTuneError
// whose message is in plain words.

/** A rejected call: plain-words message, a short code and the technical detail. */
export class WebTuneError extends Error {
  /** "format" (not a GGUF/adapter), "too-large", "nan", "busy", "panic", "exit" (engine died) or "error". */
  code: string;
  detail: string;
}

/** One call of the whole-step GPU model (WebTune.gpuStats().step). */
export interface StepStats {
  /** Dispatches, bytes uploaded (LoRA parameters, token ids, targets) and read back (losses, LoRA gradients). */
  dispatches: number;
  bytesUploaded: number;
  bytesReadBack: number;
  /** Dispatches by part: the embedding, each layer (forward and backward), the head and loss. */
  embed: number;
  layers: number[];
  head: number;
  /** Milliseconds spent recording on the CPU, and from submit to the read-back's arrival. */
  recordMs: number;
  waitMs: number;
  /** Milliseconds the caller spent between the previous call's return and this call (Go: AdamW, packing the LoRA); null on the first. */
  betweenMs: number | null;
}

/** What computes in an instance (WebTune.engine). */
export interface EngineInfo {
  /** The load option: "auto", "webgpu" or "cpu". */
  choice: "auto" | "webgpu" | "cpu";
  /**
   * What runs the training step: "webgpu" (engines "auto" and "webgpu" with an adapter: a run
   * trains whole steps on the GPU when its model allows it; Model.gpuStep() says whether it does
   * or why not), "webgpu-partial" (engine "webgpu" without the whole-step module: the frozen
   * quantized/F16/NF4 products x·Wᵀ and dy·W on the GPU, the rest on WebAssembly) or "cpu"
   * (all on WebAssembly).
   */
  training: "cpu" | "webgpu" | "webgpu-partial";
  /** The WebAssembly engine's name ("wasm-simd", "wasm-simd-relaxed", or "cpu" without SIMD). */
  cpuEngine: string;
  /** The WebGPU adapter the worker opened, or why none was. */
  gpu: {
    available: boolean;
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    /** Largest storage binding the engine uses, in bytes. */
    maxBindingBytes?: number;
    /** Whether the whole-step module (web/gpu/model.js) loaded. */
    wholeStep?: boolean;
    reason?: string;
  };
}

export interface LoadOptions {
  /**
   * "auto" (default: WebGPU when an adapter exists, whole training steps on the GPU when the
   * model allows it, else the CPU), "webgpu" (required, load rejects without an adapter; a step
   * that cannot run whole on the GPU still runs the frozen quantized products there) or "cpu"
   * (never opens WebGPU).
   */
  engine?: "auto" | "webgpu" | "cpu";
  /** URL of webtune.wasm (default: next to webtune.js). */
  wasmURL?: string | URL;
  /** URL of trainer.worker.js (default: next to webtune.js). */
  workerURL?: string | URL;
  /**
   * Web Workers that train together, data-parallel, each with its own copy of the
   * model (default WebTune.defaultWorkers(): every core up to 4 when the page is
   * cross-origin isolated, else 1). A model file is copied into as many workers as
   * keep all copies within 768 MB (a 300 MB model trains on 2, a 400 MB one on 1).
   */
  workers?: number;
}

export interface Memory {
  /** Go heap in use, bytes. */
  heapInUse: number;
  heapSys: number;
  sys: number;
  /** Size of the wasm linear memory, bytes. */
  wasmMemory: number;
}

/** What a GGUF header says about a model, before its weights are read (WebTune.inspect). */
/** The settings a run's memory depends on (defaults: rank 8, attn_q and attn_v, seqLen 128, batch 4, 1 worker). */
export interface TrainSettings {
  rank?: number;
  targets?: string[];
  qlora?: boolean;
  seqLen?: number;
  batch?: number;
  workers?: number;
}

/** The memory a run will take, from the file's header alone. */
export interface MemoryEstimate {
  /** Peak wasm memory of one training worker. */
  workerBytes: number;
  weightBytes: number;
  activationBytes: number;
  /** Workers that train: no more than asked, than a micro-batch has windows, or than fit together. */
  workers: number;
  totalBytes: number;
  /** False when not even one worker fits; problem then says why (or why fewer workers train). */
  fits: boolean;
  problem: string;
}

export interface HeaderInfo {
  /** False when more of the file's start is needed: fetch needBytes and ask again. */
  complete: boolean;
  needBytes: number;
  /** general.name, "" when absent. */
  name: string;
  architecture: string;
  fileBytes: number;
  /** Where the tensor data starts. */
  headerBytes: number;
  tensors: number;
  params: number;
  layers: number;
  dim: number;
  vocabSize: number;
  contextLength: number;
  /** Memory needed to load it with float32 weights, and with QLoRA (NF4 block weights). */
  memoryBytes: number;
  qloraMemoryBytes: number;
  maxMemoryBytes: number;
  maxFileBytes: number;
  /** It loads (needsQLoRA: only with QLoRA); otherwise problem says why, in plain words. */
  fits: boolean;
  needsQLoRA: boolean;
  problem: string;
  /** With settings given to inspect: the memory such a run takes (null without). */
  estimate: MemoryEstimate | null;
}

export interface DownloadProgress {
  received: number;
  total: number;
  bytesPerSec: number;
  /** Seconds left at the current speed (Infinity before any byte). */
  etaSec: number;
  /** Retries after dropped connections so far. */
  attempt: number;
  /** True when the file changed on the server and the download started over. */
  restarted: boolean;
}

export interface LoadURLOptions {
  /** Default: QLoRA when the model only fits that way. */
  qlora?: boolean;
  name?: string;
  signal?: AbortSignal;
  onInfo?: (info: HeaderInfo) => void;
  onProgress?: (p: DownloadProgress) => void;
  /** false: download again even if a copy is kept. */
  cache?: boolean;
}

export class WebTune {
  static default: WebTune | null;
  /** Starts a worker and a wasm instance. */
  static load(opts?: LoadOptions): Promise<WebTune>;
  /** Every core up to 4 on a cross-origin isolated page (SharedArrayBuffer), else 1. */
  static defaultWorkers(): number;
  /** How many workers started (1 = training on one worker). */
  readonly workers: number;
  /** The values of LoadOptions.engine. */
  static readonly engines: readonly ["auto", "webgpu", "cpu"];
  /** What computes: the engine choice, what runs the training step, the WebGPU adapter. */
  readonly engine: EngineInfo;
  /**
   * Frozen products the GPU ran and those that fell back to the CPU (engine "webgpu"), and the
   * whole-step model's figures of its last step (step); null without the GPU.
   */
  gpuStats(): Promise<{
    /** The last whole-step model (web/gpu/model.js): its last call's figures, and its last training step's under train. */
    step?: StepStats & { steps: number; evals: number; backward: boolean; train: StepStats | null };
    /** The rest under the engine "webgpu" only (its per-product path; "auto" has step alone). */
    offloaded?: number;
    fallbacks?: number;
    uploads?: number;
    lastError?: string;
    /** GPU compute dispatches so far. */
    dispatches?: number;
    /** Bytes sent to the GPU so far, the weights' uploads included (weightBytes). */
    bytesUploaded?: number;
    bytesReadBack?: number;
    weightBytes?: number;
  } | null>;
  /** The tensor path on the default instance. */
  static sequential(opts: SequentialOptions): Promise<SequentialModel>;
  readonly version: string;
  /** Called when the wasm instance dies (out of memory); start a new one with WebTune.load. */
  set onExit(fn: (err: WebTuneError) => void);
  /** Loads a GGUF model (llama, qwen2, qwen3 or gemma3 architecture), or the built-in model. Size and architecture are checked first. */
  loadModel(source: Uint8Array | ArrayBuffer | "builtin", opts?: { qlora?: boolean; name?: string; transfer?: boolean }): Promise<Model>;
  /** Reads a GGUF header from the first bytes of a file of `size` bytes (see HeaderInfo). */
  inspect(prefix: Uint8Array | ArrayBuffer, size: number, settings?: TrainSettings): Promise<HeaderInfo>;
  /**
   * Opens a GGUF model from a URL: header first (Range requests; refused early if it cannot load),
   * then a resumable download kept in the browser (OPFS) so the next call needs no network.
   */
  loadURL(url: string, opts?: LoadURLOptions): Promise<Model>;
  /** A small MLP ([in, hidden..., out]) whose Linear layers are NF4 + LoRA, trained with MSE. */
  sequential(opts: SequentialOptions): Promise<SequentialModel>;
  /** The built-in model's GGUF bytes (to use an adapter with llama.cpp). */
  builtinModel(): Promise<Uint8Array>;
  /** Memory in use; {gc: true} collects garbage first. */
  memory(opts?: { gc?: boolean }): Promise<Memory>;
  /** Ends the worker and frees its memory. */
  terminate(): void;
}

export interface ModelInfo {
  name: string;
  architecture: string;
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  contextLength: number;
  tiedOutput: boolean;
  /** "llama" (SentencePiece), "gpt2" (byte-level BPE) or "" (none). */
  tokenizer: string;
  /** Base parameters. */
  params: number;
  trainableParams: number;
  fileBytes: number;
  /** Weights plus LoRA values, gradients and optimizer moments, bytes. */
  memoryBytes: number;
  qlora: boolean;
  /** Layer kinds LoRA can target: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down, output. */
  targets: string[];
  lora: LoRAOptions | null;
  /** Whether the file carries a chat template (an instruct model: use GenerateOptions.chat). */
  chatTemplate: boolean;
}

export interface LoRAOptions {
  /** Rank r (default 8). */
  rank?: number;
  /** Scale numerator (default 2·rank); the adapter adds (alpha/r)·B·A·x. */
  alpha?: number;
  /** Layer kinds, PEFT names (q_proj, ...) or "all-linear" (default attn_q, attn_v). */
  targets?: string[];
  /** rsLoRA: scale alpha/√r. */
  rslora?: boolean;
  /** Dropout on the adapter input while training. */
  dropout?: number;
  /** Seed of A's initialisation. */
  seed?: number;
}

export interface Summary {
  trainable: number;
  all: number;
  percent: number;
  /** "trainable params: … || all params: … || trainable%: …" */
  text: string;
}

export interface TextStats {
  tokens: number;
  seqLen: number;
  /** Training windows; for conversations, training examples (one per window). */
  trainWindows: number;
  /** Held-out windows; for conversations, held-out examples. */
  evalWindows: number;
  /** "text", "messages", "prompt-completion" or "alpaca" (detected, or TrainOptions.format). */
  format: string;
  /** For conversational data: examples, messages, trained tokens, examples cut at seqLen. */
  examples: number;
  turns: number;
  trained: number;
  cut: number;
  /** Which chat template rendered the conversations ("the model's own", ChatML…). */
  template: string;
  /** One line for a person: counts, cuts and template. */
  summary: string;
  /** The first example as token pieces, each with whether the loss trains it. */
  preview: { pieces: string[]; trained: boolean[] } | null;
  /** How long tokenizing plain text took, in ms (0 for conversations). A text is
   * tokenized once: counting it again, or training on it, reuses the ids. Texts
   * over 500 MB are refused (the tab's WebAssembly memory is 4 GB). */
  tokenizeMs: number;
}

export interface Progress {
  step: number;
  steps: number;
  loss: number;
  /** Held-out loss, null when not evaluated at this step. */
  evalLoss: number | null;
  lr: number;
  gradNorm: number;
  tokens: number;
  /** Training throughput of this session, evaluation time excluded. */
  tokensPerSec: number;
  /** Seconds this session spent evaluating the held-out windows. */
  evalSec: number;
  elapsedSec: number;
  etaSec: number;
  epoch: number;
  /** Web Workers training this run together (1 = one; see LoadOptions.workers). */
  workers: number;
}

export interface TrainOptions {
  /**
   * Training data: plain text, or JSON Lines of {"messages": [...]},
   * {"prompt", "completion"}, {"instruction", "input", "output"} or {"text"}.
   */
  text?: string;
  /** "auto" (default), "text", "messages", "prompt-completion" or "alpaca". */
  format?: string;
  /** A Jinja chat template overriding the model's own (ChatML when it has none). */
  chatTemplate?: string;
  /** Conversations: "assistant" (default: only assistant turns are trained) or "all". */
  trainOn?: "assistant" | "all";
  /** Optimizer steps (default one epoch). */
  steps?: number;
  lr?: number;
  batch?: number;
  gradAccum?: number;
  seqLen?: number;
  stride?: number;
  /** Share of the text held out for evaluation (default 0.1; negative: none). */
  evalFraction?: number;
  /** Evaluate every so many steps and at the last (default: a schedule costing at most ~10% of training). */
  evalEvery?: number;
  warmup?: number;
  seed?: number;
  /** Continue the run re-created by restore() (or a paused/stopped one). */
  resume?: boolean;
  onProgress?: (p: Progress) => void;
  /** Inside a long step (a real-size model), a few times a second: where the step is. */
  onActivity?: (a: Activity) => void;
}

/** Activity is a sign of life from inside a training step: its pass and the blocks done in it. */
export interface Activity {
  /** The step under way (1-based). */
  step: number;
  pass: "forward" | "backward";
  layer: number;
  layers: number;
}

export interface History {
  step: number;
  steps: number;
  losses: number[];
  evals: { step: number; loss: number }[];
}

export interface RunResult {
  state: "done" | "stopped" | "error";
  error: string | null;
  history: History;
}

export class Run {
  readonly config: { steps: number; seqLen: number; batch: number; gradAccum: number; lr: number; warmup: number; evalEvery: number; /** Held-out windows evaluated each time. */ evalWindows: number; /** Web Workers training this run together (1 = one). */ workers: number };
  /** Resolves when the run ends. */
  readonly done: Promise<RunResult>;
  /** The last progress report. */
  readonly last: Progress | null;
  onProgress?: (p: Progress) => void;
  onActivity?: (a: Activity) => void;
  pause(): Promise<string>;
  resume(): Promise<string>;
  stop(): Promise<string>;
  state(): Promise<"ready" | "training" | "paused" | "done" | "stopped" | "error">;
  history(): Promise<History>;
  dispose(): Promise<unknown>;
}

export interface GenerateOptions {
  maxTokens?: number;
  /** 0: greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Apply the adapter (default true); false runs the base model. */
  adapter?: boolean;
  /** Also return the next-token log-softmax after the prompt. */
  logprobs?: boolean;
  /** The prompt is a user message, rendered with the chat template; generation stops at the end of the turn. */
  chat?: boolean;
  /** System message of a chat prompt. */
  system?: string;
  /** A Jinja chat template overriding the model's own. */
  chatTemplate?: string;
}

export interface Generation {
  text: string;
  tokens: number[];
  prompt: number[];
  adapter: boolean;
  /** With opts.logprobs: log-softmax over the vocabulary after the prompt. */
  logprobs?: Float32Array;
}

export interface Restored {
  kind: "run" | "adapter";
  lora: LoRAOptions;
  train: TrainOptions | null;
  history: History | null;
}

/** How a model's last run trains (Model.gpuStep). */
export interface GPUStepInfo {
  /** Whether its steps run whole on the GPU (forward, loss, backward; AdamW on the CPU). */
  on: boolean;
  /** Why not, when a GPU was opened for training but cannot run this model's step ("" otherwise). */
  reason: string;
  /** GPU steps and the last one's bytes up and down and dispatches. */
  steps: number;
  bytesUp: number;
  bytesDown: number;
  dispatches: number;
  /** Floats of the packed LoRA parameters (and gradients) that cross per step. */
  loraFloats: number;
  /** The frozen weights' bytes as stored on the GPU (uploaded once per model load). */
  weightBytes: number;
  lastError: string;
}

export class Model {
  info(): Promise<ModelInfo>;
  summary(): Promise<Summary>;
  /** How the last run trains: whole steps on the GPU, or why not. */
  gpuStep(): Promise<GPUStepInfo>;
  /** Wraps the target layers with LoRA adapters; returns the options with defaults filled. */
  injectLoRA(opts?: LoRAOptions): Promise<LoRAOptions>;
  /** Token count and training windows the text makes. */
  textStats(text: string, opts?: TrainOptions): Promise<TextStats>;
  /** Starts a run (injecting the default LoRA if none). */
  train(opts: TrainOptions): Promise<Run>;
  generate(prompt: string, opts?: GenerateOptions): Promise<Generation>;
  /** The adapter as a llama.cpp LoRA GGUF. */
  saveAdapter(): Promise<Uint8Array>;
  /** "<model>-lora-r<rank>.gguf" */
  adapterFileName(): Promise<string>;
  /** Loads an adapter GGUF (injecting matching LoRA layers first if none). */
  loadAdapter(bytes: Uint8Array | ArrayBuffer): Promise<LoRAOptions>;
  /** Everything needed to continue: LoRA and training options, text, weights, optimizer, data position. */
  checkpoint(): Promise<Uint8Array>;
  /** Restores a checkpoint; continue a run with train({resume: true}). */
  restore(bytes: Uint8Array | ArrayBuffer): Promise<Restored>;
  dispose(): Promise<unknown>;
}

export interface SequentialOptions {
  /** Widths [in, hidden..., out]. */
  layers: number[];
  /** relu (default), tanh, sigmoid, gelu, silu. */
  activation?: string;
  seed?: number;
  rank?: number;
  alpha?: number;
  targets?: string[];
  lr?: number;
}

export class SequentialModel {
  /** One QLoRA step with MSE; resolves to the loss before the step. */
  step(batch: { input: Float32Array; inputShape: number[]; target: Float32Array; targetShape: number[] }): Promise<number>;
  predict(input: Float32Array, inputShape: number[]): Promise<{ output: Float32Array; shape: number[] }>;
  summary(): Promise<Summary>;
  dispose(): Promise<unknown>;
}

export default WebTune;
