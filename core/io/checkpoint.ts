/**
 * Training checkpoints: model weights in `model.safetensors`, optimizer state in
 * `optimizer.safetensors` (per parameter name: `m/<name>` and `v/<name>` for AdamW, `momentum/<name>`
 * for SGD; counters, groups and kind in its `__metadata__`), any files the caller adds (a
 * tokenizer, a config), and `trainer_state.json` (step, optimizer counters, caller's extra state,
 * and the size and sha256 of every other file).
 *
 * A checkpoint directory is written as a whole: into a `.partial` sibling, `trainer_state.json`
 * last, then swapped in by renames (core/io/atomic.ts), so a kill at any moment leaves the old
 * checkpoint or the new one; {@linkcode loadCheckpoint} finishes a swap that was killed half-way
 * and verifies every file against the sizes and hashes its `trainer_state.json` records, naming the
 * file that does not match (a flipped bit, trailing garbage, a truncation).
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import type { Optimizer, OptimizerSnapshot } from "../optim/optimizer.ts";
import {
  encodeSafetensors,
  type HostTensorEntry,
  hostToTensor,
  readSafetensorsHost,
  SafetensorsError,
  tensorsToHost,
} from "./safetensors.ts";
import {
  pathExists,
  recoverDirectory,
  replaceDirectory,
  TEMP_FILE_PATTERN,
  writeFileAtomic,
} from "./atomic.ts";

/** Parameter names: a record, a map, or name/tensor pairs (e.g. a module's named parameters). */
export type NamedTensors =
  | Record<string, Tensor>
  | Map<string, Tensor>
  | Iterable<[string, Tensor]>;

const OPTIMIZER_FORMAT = "fast-clara-optimizer/1";
/** Version 2 adds the file manifest; version 1 checkpoints (no manifest) still load, unverified. */
const TRAINER_FORMAT = "fast-clara-checkpoint/2";
const TRAINER_FORMAT_V1 = "fast-clara-checkpoint/1";
/** File names inside a checkpoint directory. */
export const CHECKPOINT_FILES = {
  model: "model.safetensors",
  optimizer: "optimizer.safetensors",
  trainerState: "trainer_state.json",
} as const;

function entriesOf(named: NamedTensors): [string, Tensor][] {
  if (named instanceof Map) return [...named.entries()];
  if (Symbol.iterator in named) return [...(named as Iterable<[string, Tensor]>)];
  return Object.entries(named as Record<string, Tensor>);
}

function namesOfParams(optimizer: Optimizer, named: NamedTensors): string[] {
  const nameOf = new Map<Tensor, string>();
  for (const [name, t] of entriesOf(named)) nameOf.set(t, name);
  return optimizer.parameters().map((p, i) => {
    const name = nameOf.get(p);
    if (name === undefined) throw new Error(`optimizer parameter ${i} (${p}) has no name`);
    return name;
  });
}

/** Counters and settings saved beside the optimizer's tensors. */
interface OptimizerHeader {
  kind: string;
  appliedSteps: number;
  skippedSteps: number;
  stepCalls: number;
  groups: { lr: number; weightDecay: number }[];
  params: string[];
}

/** An optimizer's state as safetensors bytes, keyed by parameter name, and its snapshot. */
async function encodeOptimizerState(
  optimizer: Optimizer,
  names: NamedTensors,
): Promise<{ bytes: Uint8Array; snapshot: OptimizerSnapshot }> {
  const params = namesOfParams(optimizer, names);
  const snapshot = await optimizer.exportState();
  const tensors: Record<string, HostTensorEntry> = {};
  snapshot.state.forEach((entry, i) => {
    const shape = [...optimizer.parameters()[i].shape];
    for (const [stateName, values] of Object.entries(entry)) {
      tensors[`${stateName}/${params[i]}`] = {
        dtype: "F32",
        shape,
        data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
      };
    }
  });
  const header: OptimizerHeader = {
    kind: snapshot.kind,
    appliedSteps: snapshot.appliedSteps,
    skippedSteps: snapshot.skippedSteps,
    stepCalls: snapshot.stepCalls,
    groups: snapshot.groups,
    params,
  };
  const bytes = encodeSafetensors(tensors, {
    format: OPTIMIZER_FORMAT,
    state: JSON.stringify(header),
  });
  return { bytes, snapshot };
}

/** Saves an optimizer's state, keyed by parameter name, to a safetensors file (atomically). */
export async function saveOptimizerState(
  path: string,
  optimizer: Optimizer,
  names: NamedTensors,
): Promise<OptimizerSnapshot> {
  const { bytes, snapshot } = await encodeOptimizerState(optimizer, names);
  await writeFileAtomic(path, bytes);
  return snapshot;
}

/** Loads optimizer state saved by {@linkcode saveOptimizerState} into `optimizer`, matching by name. */
export async function loadOptimizerState(
  path: string,
  optimizer: Optimizer,
  names: NamedTensors,
): Promise<void> {
  importOptimizerState(path, await Deno.readFile(path), optimizer, names);
}

function parseOptimizerHeader(path: string, json: string): OptimizerHeader {
  let header: OptimizerHeader;
  try {
    header = JSON.parse(json);
  } catch (e) {
    throw new SafetensorsError(
      path,
      `the optimizer header (__metadata__.state) is not valid JSON (${(e as Error).message})`,
    );
  }
  const fine = typeof header === "object" && header !== null && typeof header.kind === "string" &&
    Array.isArray(header.params) && Array.isArray(header.groups) &&
    [header.appliedSteps, header.skippedSteps, header.stepCalls].every(Number.isInteger);
  if (!fine) {
    throw new SafetensorsError(
      path,
      "the optimizer header (__metadata__.state) lacks kind, params, groups or its step counters",
    );
  }
  return header;
}

function importOptimizerState(
  path: string,
  bytes: Uint8Array,
  optimizer: Optimizer,
  names: NamedTensors,
): void {
  const file = readSafetensorsHost(bytes, path);
  if (file.metadata.format !== OPTIMIZER_FORMAT || !file.metadata.state) {
    throw new SafetensorsError(
      path,
      `not an optimizer state file (format ${file.metadata.format})`,
    );
  }
  const header = parseOptimizerHeader(path, file.metadata.state);
  const params = namesOfParams(optimizer, names);
  const stateNames = [...new Set(Object.keys(file.tensors).map((k) => k.split("/")[0]))];
  const trained = new Set(params);
  const extra = [...new Set(Object.keys(file.tensors).map((k) => k.slice(k.indexOf("/") + 1)))]
    .filter((name) => !trained.has(name));
  if (extra.length) {
    throw new Error(
      `${path}: holds optimizer state for ${extra.length} parameter(s) this run does not train ` +
        `(${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", …" : ""}); ` +
        `resume with the flags the run started with`,
    );
  }
  const state = params.map((name, i) => {
    const entry: Record<string, Float32Array> = {};
    const size = optimizer.parameters()[i].size;
    for (const stateName of stateNames) {
      const t = file.tensors[`${stateName}/${name}`];
      if (!t) throw new SafetensorsError(path, `no "${stateName}" state for parameter "${name}"`);
      if (t.dtype !== "F32" || t.data.byteLength !== size * 4) {
        throw new SafetensorsError(
          path,
          `"${stateName}/${name}" is ${t.dtype} [${t.shape}], expected F32 with ${size} elements`,
        );
      }
      entry[stateName] = new Float32Array(t.data.slice().buffer);
    }
    return entry;
  });
  optimizer.importState({
    kind: header.kind,
    appliedSteps: header.appliedSteps,
    skippedSteps: header.skippedSteps,
    stepCalls: header.stepCalls,
    groups: header.groups,
    state,
  });
}

/** What {@linkcode saveCheckpoint} writes. */
export interface Checkpoint {
  /** Model weights by name. */
  model: Record<string, Tensor>;
  /** Optimizer whose state is saved, with `names` mapping its parameters (defaults to `model`). */
  optimizer?: Optimizer;
  names?: NamedTensors;
  /** Training step (default: the optimizer's `stepCalls`, else 0). */
  step?: number;
  /** Strings stored in the model file's `__metadata__` (e.g. the model config as JSON). */
  metadata?: Record<string, string>;
  /** Any JSON-serialisable trainer state (data position, RNG seed, best metric…). */
  extra?: Record<string, unknown>;
  /**
   * More files to keep in the checkpoint, by plain file name (e.g. `tokenizer.json`): written
   * with the rest, covered by the manifest and verified on load.
   */
  files?: Record<string, string | Uint8Array>;
}

/** Size and content hash of one file of a checkpoint. */
export interface CheckpointFileRecord {
  bytes: number;
  sha256: string;
}

/** The contents of `trainer_state.json`. */
export interface TrainerState {
  format: string;
  step: number;
  optimizer: Omit<OptimizerHeader, "params"> | null;
  extra: Record<string, unknown>;
  /** Every other file of the checkpoint (absent in version 1 checkpoints). */
  files?: Record<string, CheckpointFileRecord>;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const RESERVED = new Set<string>(Object.values(CHECKPOINT_FILES));

function checkExtraFileName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || TEMP_FILE_PATTERN.test(name)) {
    throw new Error(`saveCheckpoint: "${name}" is not a plain file name (letters, digits, . _ -)`);
  }
  if (RESERVED.has(name)) throw new Error(`saveCheckpoint: "${name}" is written by the checkpoint`);
}

/**
 * Refuses to replace an existing directory that holds anything the checkpoint there did not write
 * (the old behaviour merged into it; replacing it whole would delete those files silently).
 */
async function checkReplaceable(dir: string): Promise<void> {
  if (!(await pathExists(dir))) return;
  let known = new Set<string>(RESERVED);
  try {
    const old = JSON.parse(await Deno.readTextFile(`${dir}/${CHECKPOINT_FILES.trainerState}`));
    known = new Set([...known, ...Object.keys(old?.files ?? {})]);
  } catch {
    // No readable manifest: only the standard file names count as the checkpoint's own.
  }
  const foreign: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!known.has(entry.name) && !TEMP_FILE_PATTERN.test(entry.name)) foreign.push(entry.name);
  }
  if (foreign.length) {
    throw new Error(
      `saveCheckpoint: ${dir} holds ${foreign.sort().join(", ")}, which are not part of a ` +
        "checkpoint; a checkpoint replaces its directory as a whole, so save it into a directory " +
        "of its own (or pass such files in `files`)",
    );
  }
}

/**
 * Writes a checkpoint directory as a whole (see the module notes): everything is read back from
 * the GPU first, written into `dir.partial` with `trainer_state.json` (and its manifest) last,
 * then swapped in for `dir`. An existing `dir` may hold only an earlier checkpoint.
 */
export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  const contents = new Map<string, Uint8Array>();
  contents.set(
    CHECKPOINT_FILES.model,
    encodeSafetensors(await tensorsToHost(checkpoint.model), checkpoint.metadata),
  );
  let optimizer: TrainerState["optimizer"] = null;
  if (checkpoint.optimizer) {
    const { bytes, snapshot: s } = await encodeOptimizerState(
      checkpoint.optimizer,
      checkpoint.names ?? checkpoint.model,
    );
    contents.set(CHECKPOINT_FILES.optimizer, bytes);
    optimizer = {
      kind: s.kind,
      appliedSteps: s.appliedSteps,
      skippedSteps: s.skippedSteps,
      stepCalls: s.stepCalls,
      groups: s.groups,
    };
  }
  for (const [name, content] of Object.entries(checkpoint.files ?? {})) {
    checkExtraFileName(name);
    contents.set(name, typeof content === "string" ? new TextEncoder().encode(content) : content);
  }
  const files: Record<string, CheckpointFileRecord> = {};
  for (const [name, bytes] of contents) {
    files[name] = { bytes: bytes.byteLength, sha256: await sha256Hex(bytes) };
  }
  const state: TrainerState = {
    format: TRAINER_FORMAT,
    step: checkpoint.step ?? checkpoint.optimizer?.stepCalls ?? 0,
    optimizer,
    extra: checkpoint.extra ?? {},
    files,
  };
  await checkReplaceable(dir);
  await replaceDirectory(dir, async (staging) => {
    for (const [name, bytes] of contents) await writeFileAtomic(`${staging}/${name}`, bytes);
    await writeFileAtomic(
      `${staging}/${CHECKPOINT_FILES.trainerState}`,
      new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"),
    );
  });
}

/**
 * Finishes a checkpoint swap killed between its renames (the previous checkpoint is put back) and
 * says whether `dir` now holds a complete checkpoint (its `trainer_state.json` exists).
 */
export async function recoverCheckpoint(dir: string): Promise<boolean> {
  return (await recoverDirectory(dir)) &&
    (await pathExists(`${dir}/${CHECKPOINT_FILES.trainerState}`));
}

/** A loaded checkpoint: new model tensors (the caller owns them), metadata and trainer state. */
export interface LoadedCheckpoint {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  step: number;
  extra: Record<string, unknown>;
}

/** Reads `dir/name` and checks it against its manifest record; a version 1 checkpoint has none. */
async function readVerified(
  dir: string,
  name: string,
  record: CheckpointFileRecord | undefined,
  manifest: boolean,
): Promise<Uint8Array> {
  const path = `${dir}/${name}`;
  const stateFile = CHECKPOINT_FILES.trainerState;
  if (manifest && !record) throw new Error(`${path}: not listed in ${dir}/${stateFile}`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`checkpoint ${dir} is incomplete: ${name} is missing`);
    }
    throw e;
  }
  if (!record) return bytes;
  if (bytes.byteLength !== record.bytes) {
    throw new Error(
      `${path}: ${bytes.byteLength} bytes, but ${stateFile} records ${record.bytes} ` +
        `(the file was ${bytes.byteLength < record.bytes ? "truncated" : "appended to"})`,
    );
  }
  const hash = await sha256Hex(bytes);
  if (hash !== record.sha256) {
    throw new Error(
      `${path}: sha256 ${hash} does not match the ${record.sha256} that ${stateFile} records ` +
        "(the file is corrupt)",
    );
  }
  return bytes;
}

/**
 * Reads a checkpoint directory (first finishing a swap that was killed half-way), verifying every
 * file against the manifest in `trainer_state.json`. With `optimizer`, also restores its state,
 * matching parameters by `names` (the optimizer's own parameter tensors by name).
 */
export async function loadCheckpoint(
  dir: string,
  options: { optimizer?: Optimizer; names?: NamedTensors } = {},
): Promise<LoadedCheckpoint> {
  await recoverDirectory(dir);
  const statePath = `${dir}/${CHECKPOINT_FILES.trainerState}`;
  let state: TrainerState;
  try {
    state = JSON.parse(await Deno.readTextFile(statePath)) as TrainerState;
  } catch (e) {
    throw new Error(
      `checkpoint ${dir} is incomplete or unreadable: ${statePath}: ${(e as Error).message}`,
    );
  }
  const manifest = state?.format === TRAINER_FORMAT;
  if (!manifest && state?.format !== TRAINER_FORMAT_V1) {
    throw new Error(`${statePath}: unknown checkpoint format ${state?.format}`);
  }
  if (manifest && (typeof state.files !== "object" || state.files === null)) {
    throw new Error(`${statePath}: no "files" manifest (expected in ${TRAINER_FORMAT})`);
  }
  for (const name of Object.keys(state.files ?? {})) {
    if (name === CHECKPOINT_FILES.model || name === CHECKPOINT_FILES.optimizer) continue;
    await readVerified(dir, name, state.files![name], manifest);
  }
  if (options.optimizer) {
    if (!options.names) throw new Error("loadCheckpoint: restoring an optimizer needs `names`");
    if (state.optimizer === null) {
      throw new Error(`checkpoint ${dir} was saved without optimizer state (${statePath})`);
    }
    const name = CHECKPOINT_FILES.optimizer;
    const bytes = await readVerified(dir, name, state.files?.[name], manifest);
    importOptimizerState(`${dir}/${name}`, bytes, options.optimizer, options.names);
  }
  const name = CHECKPOINT_FILES.model;
  const model = readSafetensorsHost(
    await readVerified(dir, name, state.files?.[name], manifest),
    `${dir}/${name}`,
  );
  const tensors: Record<string, Tensor> = {};
  for (const [key, entry] of Object.entries(model.tensors)) tensors[key] = hostToTensor(entry);
  return { tensors, metadata: model.metadata, step: state.step, extra: state.extra };
}
