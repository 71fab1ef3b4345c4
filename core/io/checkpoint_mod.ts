/**
 * Checkpoint I/O: the safetensors format (interoperable with PyTorch and Hugging Face) and training
 * checkpoints with optimizer state.
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
  writeFileAtomic,
} from "./safetensors.ts";
export {
  type Checkpoint,
  CHECKPOINT_FILES,
  loadCheckpoint,
  type LoadedCheckpoint,
  loadOptimizerState,
  type NamedTensors,
  saveCheckpoint,
  saveOptimizerState,
  type TrainerState,
} from "./checkpoint.ts";
