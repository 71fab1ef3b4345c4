/**
 * Training checkpoints: model weights in `model.safetensors`, optimizer state in
 * `optimizer.safetensors` (per parameter name: `m/<name>` and `v/<name>` for AdamW, `momentum/<name>`
 * for SGD; counters, groups and kind in its `__metadata__`), and `trainer_state.json` (step,
 * optimizer counters, caller's extra state). Every file is written to a temporary file and renamed;
 * `trainer_state.json` goes last, so a checkpoint directory without it is incomplete.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import type { Optimizer, OptimizerSnapshot } from "../optim/optimizer.ts";
import {
  encodeSafetensors,
  type HostTensorEntry,
  loadSafetensors,
  readSafetensorsHost,
  SafetensorsError,
  saveSafetensors,
  writeFileAtomic,
} from "./safetensors.ts";

/** Parameter names: a record, a map, or name/tensor pairs (e.g. a module's named parameters). */
export type NamedTensors =
  | Record<string, Tensor>
  | Map<string, Tensor>
  | Iterable<[string, Tensor]>;

const OPTIMIZER_FORMAT = "fast-clara-optimizer/1";
const TRAINER_FORMAT = "fast-clara-checkpoint/1";
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

/** Saves an optimizer's state, keyed by parameter name, to a safetensors file (atomically). */
export async function saveOptimizerState(
  path: string,
  optimizer: Optimizer,
  names: NamedTensors,
): Promise<OptimizerSnapshot> {
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
  await writeFileAtomic(
    path,
    encodeSafetensors(tensors, { format: OPTIMIZER_FORMAT, state: JSON.stringify(header) }),
  );
  return snapshot;
}

/** Loads optimizer state saved by {@linkcode saveOptimizerState} into `optimizer`, matching by name. */
export async function loadOptimizerState(
  path: string,
  optimizer: Optimizer,
  names: NamedTensors,
): Promise<void> {
  const file = readSafetensorsHost(await Deno.readFile(path), path);
  if (file.metadata.format !== OPTIMIZER_FORMAT || !file.metadata.state) {
    throw new SafetensorsError(
      path,
      `not an optimizer state file (format ${file.metadata.format})`,
    );
  }
  const header = JSON.parse(file.metadata.state) as OptimizerHeader;
  const params = namesOfParams(optimizer, names);
  const stateNames = [...new Set(Object.keys(file.tensors).map((k) => k.split("/")[0]))];
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
}

/** The contents of `trainer_state.json`. */
export interface TrainerState {
  format: string;
  step: number;
  optimizer: Omit<OptimizerHeader, "params"> | null;
  extra: Record<string, unknown>;
}

/** Writes a checkpoint directory (created if needed); each file atomically, the trainer state last. */
export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await saveSafetensors(`${dir}/${CHECKPOINT_FILES.model}`, checkpoint.model, checkpoint.metadata);
  let optimizer: TrainerState["optimizer"] = null;
  if (checkpoint.optimizer) {
    const s = await saveOptimizerState(
      `${dir}/${CHECKPOINT_FILES.optimizer}`,
      checkpoint.optimizer,
      checkpoint.names ?? checkpoint.model,
    );
    optimizer = {
      kind: s.kind,
      appliedSteps: s.appliedSteps,
      skippedSteps: s.skippedSteps,
      stepCalls: s.stepCalls,
      groups: s.groups,
    };
  }
  const state: TrainerState = {
    format: TRAINER_FORMAT,
    step: checkpoint.step ?? checkpoint.optimizer?.stepCalls ?? 0,
    optimizer,
    extra: checkpoint.extra ?? {},
  };
  await writeFileAtomic(
    `${dir}/${CHECKPOINT_FILES.trainerState}`,
    new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"),
  );
}

/** A loaded checkpoint: new model tensors (the caller owns them), metadata and trainer state. */
export interface LoadedCheckpoint {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  step: number;
  extra: Record<string, unknown>;
}

/**
 * Reads a checkpoint directory. With `optimizer`, also restores its state, matching parameters by
 * `names` (the optimizer's own parameter tensors by name).
 */
export async function loadCheckpoint(
  dir: string,
  options: { optimizer?: Optimizer; names?: NamedTensors } = {},
): Promise<LoadedCheckpoint> {
  const statePath = `${dir}/${CHECKPOINT_FILES.trainerState}`;
  let state: TrainerState;
  try {
    state = JSON.parse(await Deno.readTextFile(statePath)) as TrainerState;
  } catch (e) {
    throw new Error(
      `checkpoint ${dir} is incomplete or unreadable: ${statePath}: ${(e as Error).message}`,
    );
  }
  if (state.format !== TRAINER_FORMAT) {
    throw new Error(`${statePath}: unknown checkpoint format ${state.format}`);
  }
  if (options.optimizer) {
    if (!options.names) throw new Error("loadCheckpoint: restoring an optimizer needs `names`");
    await loadOptimizerState(
      `${dir}/${CHECKPOINT_FILES.optimizer}`,
      options.optimizer,
      options.names,
    );
  }
  const model = await loadSafetensors(`${dir}/${CHECKPOINT_FILES.model}`);
  return { tensors: model.tensors, metadata: model.metadata, step: state.step, extra: state.extra };
}
