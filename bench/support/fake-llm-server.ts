/** The test suite's fake model server as a process of its own, for benchmarks. Port from PORT. */
import { startFakeLlm } from '../../test/helpers/fake-llm.js';

const fake = await startFakeLlm({
  port: Number(process.env.PORT),
  strictModels: false,
  record: false,
  chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 0),
});
process.stdout.write(`fake LLM listening at ${fake.url}\n`);
process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
