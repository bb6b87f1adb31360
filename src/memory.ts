import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const MIB = 1024 * 1024;

/**
 * V8 reserves room for the young generation beside the old one: heap_size_limit is the old
 * generation's limit (--max-old-space-size) plus three semi-spaces of 16 MiB on 64-bit Node 20.
 * The old generation is the part that runs out.
 */
const YOUNG_GENERATION_RESERVE = 48 * MIB;

/** Share of the old generation still live after a full collection at which the run stops. */
export const HEAP_STOP_RATIO = 0.8;

export interface HeapReading {
  /** Old-generation bytes still live after the last full garbage collection. */
  liveBytes: number;
  /** The old generation's limit. */
  limitBytes: number;
}

/** --max-old-space-size from node's own flags or NODE_OPTIONS, in bytes, when it was given. */
function oldSpaceFlag(execArgv: readonly string[], nodeOptions: string | undefined): number | undefined {
  let megabytes: number | undefined;
  for (const flag of [...execArgv, ...(nodeOptions ?? '').split(/\s+/)]) {
    const match = /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(flag);
    if (match) megabytes = Number(match[1]);
  }
  return megabytes === undefined ? undefined : megabytes * MIB;
}

/**
 * The old generation's limit: the flag when given, else V8's whole limit less the young reserve
 * (never under a quarter of it, in case a smaller heap came with a smaller reserve).
 */
export function oldGenerationLimit(
  heapSizeLimit = v8.getHeapStatistics().heap_size_limit,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env['NODE_OPTIONS'],
): number {
  const flag = oldSpaceFlag(execArgv, nodeOptions);
  if (flag !== undefined && flag < heapSizeLimit) return flag;
  return Math.max(heapSizeLimit - YOUNG_GENERATION_RESERVE, heapSizeLimit / 4);
}

function oldGenerationLive(): number {
  let live = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') continue;
    live += space.space_used_size;
  }
  return live;
}

/**
 * Watches the heap after every full garbage collection. When what is still live fills most of
 * the old generation, V8 is about to abort the process without a word; calling `onExhausted`
 * first lets the run stop kopia and print a summary that says the mover ran out of memory.
 * Memory that grows within one stretch of reads can outrun it: kopia's output, the one thing that
 * could, is bounded in the runner (heldOutputLimit); the termination message written at the start
 * covers the rest.
 */
export function watchHeap(onExhausted: (reading: HeapReading) => void, ratio = HEAP_STOP_RATIO) {
  const limitBytes = oldGenerationLimit();
  let peakBytes = 0;
  let fired = false;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind !== perfConstants.NODE_PERFORMANCE_GC_MAJOR) continue;
      const liveBytes = oldGenerationLive();
      peakBytes = Math.max(peakBytes, liveBytes);
      if (!fired && liveBytes >= ratio * limitBytes) {
        fired = true;
        onExhausted({ liveBytes, limitBytes });
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    /** The largest live old generation seen after a full collection, and the limit. */
    peak: (): HeapReading => ({ liveBytes: peakBytes, limitBytes }),
    dispose: () => observer.disconnect(),
  };
}

/**
 * The most kopia output the runner may hold at once (captured JSON, a line not yet ended): a
 * quarter of the old generation, and never more than V8 can hold in one string (about 512 MiB).
 * Output that grows in one stretch of reads can outrun the watchdog; this bound cannot be outrun.
 */
export function heldOutputLimit(limitBytes = oldGenerationLimit()): number {
  return Math.min(Math.floor(limitBytes / 4), 256 * MIB);
}

export function mebibytes(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

/**
 * The memory line's fields, for sizing moverResources: the mover process's peak resident memory
 * (what its share of the pod's memory limit must hold), the heap's limit, and the most the heap
 * held after a full collection when one happened (short runs often have none: no figure then, not 0).
 */
export function memoryFields(peak: HeapReading, maxRssKiB = process.resourceUsage().maxRSS): Record<string, number> {
  const fields: Record<string, number> = { rssPeakMiB: Number(mebibytes(maxRssKiB * 1024)) };
  if (peak.liveBytes > 0) fields['heapPeakMiB'] = Number(mebibytes(peak.liveBytes));
  fields['heapLimitMiB'] = Number(mebibytes(peak.limitBytes));
  return fields;
}
