"""The asyncio baseline of benches/e2e.sh: a PriorityQueue worker pool, in memory.

    python3 benches/e2e/asyncio_pool.py N [WORKERS]

Puts N no-op jobs (an `async def` that only counts itself; priority 0 like the JSONL jobs,
then a sequence number so equal priorities run first in, first out) on an
asyncio.PriorityQueue, runs them with WORKERS (default 4) worker tasks, waits with
queue.join(), checks that all N ran, and prints the seconds taken (first put to join()
returning; interpreter start-up excluded) on stdout. No parsing, no ledger: the pool alone.
"""

import asyncio
import sys
import time

ran = 0


async def noop():
    global ran
    ran += 1


async def worker(queue):
    while True:
        _priority, _seq, job = await queue.get()
        try:
            await job()
        finally:
            queue.task_done()


async def main(n, workers):
    queue = asyncio.PriorityQueue()
    start = time.perf_counter()
    tasks = [asyncio.create_task(worker(queue)) for _ in range(workers)]
    for i in range(n):
        queue.put_nowait((0, i, noop))
    await queue.join()
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if ran != n:
        raise SystemExit(f"asyncio_pool: {ran} of {n} jobs ran")
    print(f"{elapsed:.6f}")


if __name__ == "__main__":
    count = int(sys.argv[1])
    pool_workers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    asyncio.run(main(count, pool_workers))
