// The heap watchdog: it reads the live heap after each full garbage collection and calls back once
// the share of V8's old generation still in use passes its ratio, never before.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryFields, oldGenerationLimit, watchHeap, type HeapReading } from '../../src/memory.js';

v8.setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const MIB = 1024 * 1024;
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** About `mib` MiB on the JavaScript heap (packed doubles), not in buffers outside it. */
const onHeap = (mib: number) => Array.from({ length: mib }, () => new Array<number>(MIB / 8).fill(1.5));

describe('watchHeap', () => {
  let dispose = () => {};
  afterEach(() => dispose());

  /** A ratio that the heap in use now stays under, and passes with `mib` MiB more. */
  function ratioAbove(mib: number): number {
    collect();
    return (v8.getHeapStatistics().used_heap_size + mib * MIB) / oldGenerationLimit();
  }

  it('calls back once what stays live after a full collection passes the ratio, with that reading', async () => {
    const readings: HeapReading[] = [];
    const watch = watchHeap((r) => readings.push(r), ratioAbove(24));
    dispose = watch.dispose;
    const kept = onHeap(48);
    collect();
    for (let i = 0; i < 10 && readings.length === 0; i++) await turn();
    expect(readings).toHaveLength(1);
    expect(readings[0]!.limitBytes).toBe(oldGenerationLimit());
    expect(readings[0]!.liveBytes).toBeGreaterThan(48 * MIB);
    expect(kept).toHaveLength(48);
  });

  it('stays silent while the live heap is under the ratio, though garbage came and went', async () => {
    const readings: HeapReading[] = [];
    const watch = watchHeap((r) => readings.push(r), ratioAbove(64));
    dispose = watch.dispose;
    for (let i = 0; i < 4; i++) onHeap(32);
    collect();
    for (let i = 0; i < 10; i++) await turn();
    expect(readings).toEqual([]);
    expect(watch.peak().liveBytes).toBeGreaterThan(0);
  });
});

describe('the memory line', () => {
  it("gives the process's peak resident memory from the kernel's count, in MiB", () => {
    expect(memoryFields({ liveBytes: 0, limitBytes: 64 * MIB }, 51_200)).toEqual({ rssPeakMiB: 50, heapLimitMiB: 64 });
    // This process's own peak, as the run reads it.
    expect(memoryFields({ liveBytes: 0, limitBytes: 64 * MIB }).rssPeakMiB).toBeGreaterThan(10);
  });

  it('gives the heap peak only once a full collection measured it: before that there is no figure, not 0', () => {
    expect(memoryFields({ liveBytes: 0, limitBytes: 64 * MIB }, 51_200)).not.toHaveProperty('heapPeakMiB');
    expect(memoryFields({ liveBytes: 12 * MIB, limitBytes: 64 * MIB }, 51_200)).toMatchObject({ heapPeakMiB: 12 });
  });
});
