// graphile-worker's side of benches/postgres.sh (issue 19): the configuration the issue
// measured, in one place.
//
//   node graphile.mjs prepare URL N   migrate (graphile_worker schema), then add N no-op jobs
//                                     in one statement (graphile_worker.add_jobs); not timed
//   node graphile.mjs work URL        one worker process: runOnce (works until a fetch finds
//                                     nothing, then exits 0), `concurrentJobs` 10, a local
//                                     queue of 500, completeJobBatchDelay 0; prints
//                                     "JOBS FIRST_START LAST_END" (epoch seconds) at exit
//   node graphile.mjs left URL        prints how many jobs are still in the table (completed
//                                     jobs are deleted, so 0 = every job succeeded)
//
// The script starts two `work` processes at once and times them from their start to the last
// exit, as it does conveyor's workers. Install: `npm ci` in this folder (graphile-worker
// 0.17.3, pinned by package-lock.json), on Node 20.
import { EventEmitter } from "node:events";
import { Logger, makeWorkerUtils, runMigrations, runOnce } from "graphile-worker";

const [mode, connectionString, arg] = process.argv.slice(2);
if (!mode || !connectionString) {
  console.error("usage: node graphile.mjs prepare|work|left URL [N]");
  process.exit(2);
}

// Only warnings and errors: the default logger prints a line per worker start and stop.
const logFactory = () => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker: ${message}`);
};
const logger = new Logger(logFactory);

const preset = {
  worker: {
    connectionString,
    concurrentJobs: 10,
    maxPoolSize: 12,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
  },
};

if (mode === "prepare") {
  const n = Number.parseInt(arg ?? "", 10);
  if (!(n > 0)) {
    console.error("prepare needs a job count");
    process.exit(2);
  }
  await runMigrations({ connectionString, logger });
  const utils = await makeWorkerUtils({ connectionString, logger });
  try {
    await utils.withPgClient((client) =>
      client.query(
        `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
           SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
           FROM generate_series(1, $1)))`,
        [n],
      ),
    );
  } finally {
    await utils.release();
  }
} else if (mode === "work") {
  // The first job's start and the last job's end in this process (epoch seconds), for the
  // busy window that every contestant is compared on (see benches/postgres.sh). `job:complete`
  // fires when the task has returned and its completion is queued for the batched write.
  const events = new EventEmitter();
  const clock = () => (performance.timeOrigin + performance.now()) / 1000;
  let first = 0;
  let last = 0;
  let done = 0;
  events.on("job:start", () => {
    if (first === 0) first = clock();
  });
  events.on("job:complete", () => {
    last = clock();
    done += 1;
  });
  const worker = { ...preset.worker, events };
  await runOnce({ preset: { worker }, logger }, { noop: async () => {} });
  console.log(`${done} ${first.toFixed(6)} ${last.toFixed(6)}`);
} else if (mode === "left") {
  const utils = await makeWorkerUtils({ connectionString, logger });
  try {
    const { rows } = await utils.withPgClient((client) =>
      client.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs"),
    );
    console.log(rows[0].n);
  } finally {
    await utils.release();
  }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
