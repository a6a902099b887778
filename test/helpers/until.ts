/**
 * Waits until `check` holds, looking every `everyMs`; throws (naming `what`) if it does not within `ms`.
 * `check` may be asynchronous (a query).
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  { ms = 5000, everyMs = 10, what = 'the condition' }: { ms?: number; everyMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
