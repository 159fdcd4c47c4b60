// Types of web/nanovllm.js, nano-vllm-go's browser library. docs/browser.md
// explains every call; this file only describes their shapes.

/** NanoVLLMError codes by name (generated from wasm/errors.go). */
export declare const errorCodes: Readonly<{
  NO_WEBGPU: 'no-webgpu';
  NOT_FOUND: 'not-found';
  NETWORK: 'network';
  BAD_MODEL: 'bad-model';
  OUT_OF_MEMORY: 'out-of-memory';
  BAD_REQUEST: 'bad-request';
  ABORTED: 'aborted';
  CRASHED: 'crashed';
  QUOTA: 'quota';
  GPU_LOST: 'gpu-lost';
  INTERNAL: 'internal';
}>;

export type ErrorCode = (typeof errorCodes)[keyof typeof errorCodes];

/** Every failure of the library: `code` says what kind. */
export declare class NanoVLLMError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'NanoVLLMError';
  readonly code: ErrorCode;
}

/** A progress event of createEngine's onProgress. */
export type Progress =
  | { phase: 'engine' | 'files' | 'init' | 'ready'; message: string }
  | {
      phase: 'download';
      file: string;
      /** Bytes of the file read so far, and its size (0 when unknown). */
      loaded: number;
      total: number;
      /** Read from the browser's cache rather than the network. */
      cached: boolean;
      /** Checked against the file list's SHA-256 or git blob id (for a cached file: when it was downloaded). */
      verified: boolean;
      bytesPerSecond: number;
      /** null while the rate or the size is unknown. */
      secondsLeft: number | null;
    }
  | { phase: 'verify'; file: string };

export interface SpeculativeOptions {
  method: 'ngram';
  numTokens?: number;
  promptLookupMin?: number;
  promptLookupMax?: number;
}

export interface EngineOptions {
  /**
   * A Hugging Face repo id ("Qwen/Qwen3-0.6B"), the base URL of a folder of
   * model files, the URL of a .gguf file, or a GGUF repo id with a
   * quantization or a file name ("Qwen/Qwen3-0.6B-GGUF:Q8_0",
   * "Org/Name:file.gguf"; core/hub's rules pick the file).
   */
  model: string;
  device?: 'webgpu' | 'cpu' | 'auto';
  /** Run the engine in a Web Worker (default: true where Worker exists). */
  worker?: boolean;
  kvCacheBytes?: number;
  /** The KV cache's element type (default 'f32'): a 16-bit cache holds twice the tokens in kvCacheBytes. */
  kvCacheDType?: 'f32' | 'bf16' | 'f16';
  speculative?: SpeculativeOptions;
  /**
   * Quantize the weights while they load (ggml's Q8_0 or Q4_0, byte-identical
   * to llama-quantize): about half or a quarter of bf16's GPU memory. Left out,
   * the weights stay as stored.
   */
  quantize?: 'q8_0' | 'q4_0';
  /** Hub revision of a repo id (default 'main'). */
  revision?: string;
  /** The Hub's endpoint (default 'https://huggingface.co'). */
  hub?: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Keep verified files in the browser's storage (OPFS) and load them from there (default true). */
  cache?: boolean;
  wasmURL?: string;
}

export interface SamplingParams {
  max_tokens?: number;
  min_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  seed?: number;
  ignore_eos?: boolean;
  stop?: string | string[];
  stop_token_ids?: number[];
  include_stop_str_in_output?: boolean;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  /** Return each generated token's log-probability and this many most likely alternatives (at most 20). */
  logprobs?: number;
  signal?: AbortSignal;
}

export type CompletionRequest = SamplingParams & ({ prompt: string } | { prompt_ids: number[] });

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens?: number;
  speculative_proposed_tokens?: number;
  speculative_accepted_tokens?: number;
  [key: string]: number | undefined;
}

export interface TokenLogprob {
  token_id: number;
  logprob: number;
}

export interface Completion {
  token_ids: number[];
  text: string;
  finish_reason: 'stop' | 'length' | string;
  usage: Usage;
  /** With logprobs: one entry per generated token, from the model's raw distribution. */
  logprobs?: (TokenLogprob & { top: TokenLogprob[] })[];
}

export interface Delta {
  token_ids: number[];
  text: string;
  finish_reason?: string;
  usage?: Usage;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export type ChatRequest = SamplingParams & {
  messages: ChatMessage[];
  stream?: boolean;
  enable_thinking?: boolean;
  max_completion_tokens?: number;
};

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: string }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: string | null }[];
  /** On the last chunk only. */
  usage?: Usage;
}

export interface EngineInfo {
  device: string;
  has_tokenizer: boolean;
  /** The GGUF file loaded, or null for a safetensors checkpoint. */
  gguf: string | null;
  /** createEngine's quantize option, or null. */
  quantize: 'q8_0' | 'q4_0' | null;
  load: { weightBytes: number; goCalls: number; seconds: number; requests: number };
  [key: string]: unknown;
}

/** The API of a loaded model, whether it runs in a worker or on the page. */
export interface NanoVLLMEngine extends EventTarget {
  readonly info: EngineInfo;
  readonly device: string;
  /** Called with the GPU_LOST error when the GPU device is lost (also the 'lost' event). */
  onlost: ((err: NanoVLLMError) => void) | null;
  chat: {
    completions: {
      create(req: ChatRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(req: ChatRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  generate(req: CompletionRequest): Promise<Completion>;
  generateStream(req: CompletionRequest): AsyncIterable<Delta>;
  tokenize(text: string): Promise<number[]>;
  detokenize(ids: ArrayLike<number>): Promise<string>;
  stats(): Promise<Record<string, number>>;
  /** The engine's state after its last step (KV blocks, queues, the batch); see docs/browser.md. */
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export declare class Engine extends EventTarget implements NanoVLLMEngine {
  readonly info: EngineInfo;
  readonly device: string;
  onlost: ((err: NanoVLLMError) => void) | null;
  chat: NanoVLLMEngine['chat'];
  generate(req: CompletionRequest): Promise<Completion>;
  generateStream(req: CompletionRequest): AsyncIterable<Delta>;
  tokenize(text: string): Promise<number[]>;
  detokenize(ids: ArrayLike<number>): Promise<string>;
  stats(): Promise<Record<string, number>>;
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** An engine in a Web Worker (createEngine's default): the same API, every call a message. */
export declare class WorkerEngine extends EventTarget implements NanoVLLMEngine {
  readonly info: EngineInfo;
  readonly device: string;
  onlost: ((err: NanoVLLMError) => void) | null;
  chat: NanoVLLMEngine['chat'];
  generate(req: CompletionRequest): Promise<Completion>;
  generateStream(req: CompletionRequest): AsyncIterable<Delta>;
  tokenize(text: string): Promise<number[]>;
  detokenize(ids: ArrayLike<number>): Promise<string>;
  stats(): Promise<Record<string, number>>;
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export declare function createEngine(options: EngineOptions): Promise<NanoVLLMEngine>;
export declare function detectWebGPU(): Promise<{ available: true; adapter: string } | { available: false; reason: string }>;
export declare function resolveModelURL(model: string, options?: { revision?: string; hub?: string }): string;
/** Where a model's files are: base URL, Hub repo, cache key, and the GGUF file or selector it names. */
export declare function describeModel(model: string, options?: { revision?: string; hub?: string }): {
  base: string;
  hub: { endpoint: string; repo: string; revision: string } | null;
  key: string;
  gguf: { file: string } | { selector: string } | null;
};

/** One choice of weights for a model, with what it costs (bytes; null where unknown). */
export interface WeightChoice {
  /** A GGUF file name, or for safetensors '' (as stored), 'q8_0' or 'q4_0'. */
  value: string;
  label: string;
  downloadBytes: number | null;
  weightBytes: number | null;
  /** weightBytes plus the KV cache budget. */
  gpuBytes: number | null;
}

/**
 * The choices of weights a model offers, read from its file list (and
 * config.json) before anything large is downloaded, and the default one.
 */
export declare function describeChoices(model: string, options?: {
  hub?: string; revision?: string; kvCacheBytes?: number; signal?: AbortSignal;
}): Promise<{ kind: 'gguf' | 'safetensors'; choices: WeightChoice[]; defaultValue: string; why: string }>;

/** The bytes of a Qwen3 config.json's weights stored as dtype (core/qwen3.WeightBytesFor). */
export declare function weightBytesFor(config: object, dtype: 'f32' | 'bf16' | 'q8_0' | 'q4_0'): number;
/** The model `nanovllm serve --model` asks the page to load (an absolute URL), or null. */
export declare function defaultModel(): string | null;

export interface CachedModel {
  model: string;
  revision: string | null;
  files: number;
  bytes: number;
}

export declare function listCachedModels(): Promise<CachedModel[]>;
/** Deletes every cached revision of model; resolves with how many were removed. */
export declare function deleteCachedModel(model: string): Promise<number>;
export declare function storageEstimate(): Promise<{ usage: number; quota: number; persisted: boolean }>;
export declare function requestPersistentStorage(): Promise<boolean>;
