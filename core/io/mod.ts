/**
 * Files in and out: the safetensors format (interoperable with PyTorch and Hugging Face), training
 * checkpoints with optimizer state (written as a whole directory, verified on load), atomic
 * writers for files, text, JSON and whole directories, and the logs of a task (CSV training logs,
 * the loss chart, the progress display).
 *
 * ```ts
 * await io.saveSafetensors("model.safetensors", weights, { config: JSON.stringify(config) });
 * const { tensors, metadata } = await io.loadSafetensors("model.safetensors");
 * await io.saveCheckpoint("runs/a/step-1000", { model: weights, optimizer: opt, extra: { epoch } });
 * ```
 *
 * @module
 */
export {
  encodeSafetensors,
  type HostSafetensors,
  type HostTensorEntry,
  hostToTensor,
  loadSafetensors,
  readSafetensorsHost,
  type SafetensorsDType,
  SafetensorsError,
  saveSafetensors,
  tensorsToHost,
} from "./safetensors.ts";
export {
  pathExists,
  recoverDirectory,
  replaceDirectory,
  writeFileAtomic,
  writeJsonAtomic,
  writeTextFileAtomic,
} from "./atomic.ts";
export {
  type Checkpoint,
  CHECKPOINT_FILES,
  type CheckpointFileRecord,
  loadCheckpoint,
  type LoadedCheckpoint,
  loadOptimizerState,
  type NamedTensors,
  recoverCheckpoint,
  saveCheckpoint,
  saveOptimizerState,
  type TrainerState,
} from "./checkpoint.ts";
export * from "./csv.ts";
export * from "./csv_log.ts";
export * from "./progress.ts";
export * from "./svg_chart.ts";
