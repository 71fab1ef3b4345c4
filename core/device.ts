/**
 * The WebGPU adapter and device: requested once, with the largest limits the adapter allows.
 *
 * @module
 */

/** Options for {@linkcode init}. */
export interface InitOptions {
  /** Passed to `requestAdapter`; defaults to the `FAST_CLARA_POWER` environment variable or "high-performance". */
  powerPreference?: GPUPowerPreference;
  /** Request `shader-f16` when the adapter has it (default true). */
  f16?: boolean;
}

/** What the toolkit knows about the device it runs on. */
export interface DeviceInfo {
  /** Human-readable adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Vendor string reported by the adapter. */
  vendor: string;
  /** True for software adapters such as lavapipe. */
  isFallbackAdapter: boolean;
  /** Whether f16 storage and arithmetic are available in kernels. */
  f16: boolean;
  /** Largest storage buffer binding in bytes. */
  maxStorageBufferBindingSize: number;
}

/** Raised when WebGPU reports a device loss or a validation/out-of-memory/internal error. */
export class WebGPUError extends Error {
  /** Creates the error; `message` names the op(s) involved. */
  constructor(message: string) {
    super(message);
    this.name = "WebGPUError";
  }
}

const NO_ADAPTER_HELP =
  "No WebGPU adapter was found. On Debian/Ubuntu install the software Vulkan " +
  "driver with `apt-get install mesa-vulkan-drivers` (lavapipe), or run on a machine with a GPU " +
  "and a Vulkan/Metal/D3D12 driver. Deno exposes WebGPU as `navigator.gpu`.";

let current: { device: GPUDevice; info: DeviceInfo } | null = null;
let pending: Promise<DeviceInfo> | null = null;
let lostReason: string | null = null;

/** Requests the adapter and device once; later calls return the same device's info. */
export function init(options: InitOptions = {}): Promise<DeviceInfo> {
  if (current) return Promise.resolve(current.info);
  pending ??= requestDevice(options).catch((e) => {
    pending = null;
    throw e;
  });
  return pending;
}

async function requestDevice(options: InitOptions): Promise<DeviceInfo> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new WebGPUError(NO_ADAPTER_HELP);
  }
  const envPower = Deno.env.get("FAST_CLARA_POWER") as GPUPowerPreference | undefined;
  const adapter = await navigator.gpu.requestAdapter({
    powerPreference: options.powerPreference ?? envPower ?? "high-performance",
  });
  if (!adapter) throw new WebGPUError(NO_ADAPTER_HELP);
  const wantF16 = (options.f16 ?? true) && adapter.features.has("shader-f16");
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: [
      ...(wantF16 ? ["shader-f16" as const] : []),
      ...(adapter.features.has("timestamp-query") ? ["timestamp-query" as const] : []),
    ],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  device.lost.then((info) => {
    lostReason = `${info.reason}: ${info.message}`;
  });
  const adapterInfo = adapter.info;
  const info: DeviceInfo = {
    description: adapterInfo.description || adapterInfo.device || "unknown adapter",
    vendor: adapterInfo.vendor,
    isFallbackAdapter: (adapterInfo as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    f16: wantF16,
    maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
  };
  current = { device, info };
  return info;
}

/** The initialised device; throws a clear error when {@linkcode init} has not been awaited or the device was lost. */
export function gpu(): GPUDevice {
  if (lostReason) throw new WebGPUError(`WebGPU device lost (${lostReason})`);
  if (!current) {
    throw new WebGPUError(
      "WebGPU is not initialised: call `await device.init()` before using tensors",
    );
  }
  return current.device;
}

/** Information about the initialised device. */
export function info(): DeviceInfo {
  gpu();
  return current!.info;
}
