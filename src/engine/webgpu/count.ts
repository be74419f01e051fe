/** GPU work issued while counting: what one training step or inference batch costs in calls. */
export interface GpuWorkCounts {
  /** Compute dispatches (`dispatchWorkgroups`, direct or indirect). */
  dispatches: number;
  /** Queue submissions. */
  submits: number;
  /**
   * Uploads: `queue.writeBuffer` calls and buffers created mapped (`mappedAtCreation`, how tfjs
   * uploads tensor data); `writeBytes` counts the former's bytes.
   */
  writes: number;
  writeBytes: number;
  /** Read-backs: buffers mapped for reading (`mapAsync`). */
  reads: number;
}

// biome-ignore lint/suspicious/noExplicitAny: WebGPU interface objects of the host
type Proto = any;

/**
 * Counts every dispatch, submit, upload and read-back of every WebGPU device in this realm until
 * `stop()`, by wrapping the methods on the WebGPU interfaces' prototypes (`GPUComputePassEncoder`,
 * `GPUQueue`, `GPUDevice`, `GPUBuffer`), so that tfjs' op-by-op backend and the fused engine are measured the
 * same way. For tests and benchmarks; counting adds a function call to each.
 */
export function countGpuWork(): { counts: GpuWorkCounts; stop(): void } {
  const counts: GpuWorkCounts = { dispatches: 0, submits: 0, writes: 0, writeBytes: 0, reads: 0 };
  const g = globalThis as unknown as Record<string, { prototype: Proto } | undefined>;
  const restore: (() => void)[] = [];
  const wrap = (iface: string, method: string, count: (args: unknown[]) => void): void => {
    const proto = g[iface]?.prototype;
    const original = proto?.[method];
    if (typeof original !== 'function') {
      throw new Error(`countGpuWork: ${iface}.prototype.${method} is not available here`);
    }
    proto[method] = function (this: unknown, ...args: unknown[]) {
      count(args);
      return original.apply(this, args);
    };
    restore.push(() => {
      proto[method] = original;
    });
  };
  wrap('GPUComputePassEncoder', 'dispatchWorkgroups', () => counts.dispatches++);
  wrap('GPUComputePassEncoder', 'dispatchWorkgroupsIndirect', () => counts.dispatches++);
  wrap('GPUQueue', 'submit', () => counts.submits++);
  wrap('GPUQueue', 'writeBuffer', (args) => {
    counts.writes++;
    const data = args[2] as ArrayBufferView | ArrayBuffer;
    const size = args[4] as number | undefined;
    const elementBytes = ArrayBuffer.isView(data)
      ? ((data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1)
      : 1;
    counts.writeBytes += size !== undefined ? size * elementBytes : data.byteLength;
  });
  wrap('GPUDevice', 'createBuffer', (args) => {
    if ((args[0] as { mappedAtCreation?: boolean }).mappedAtCreation === true) counts.writes++;
  });
  wrap('GPUBuffer', 'mapAsync', () => counts.reads++);
  return {
    counts,
    stop: () => {
      for (const undo of restore.reverse()) undo();
    },
  };
}
