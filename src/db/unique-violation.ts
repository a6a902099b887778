/** Whether a driver error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * Runs a write that may collide on a unique name. A name held by another row (found first, or raised by the
 * unique index when two writers race) answers `conflict()`, a 409 naming the field, instead of a driver error.
 */
export async function writeUniqueName(o: {
  existing: { id: string } | undefined;
  selfId: string | undefined;
  conflict: () => Error;
  write: () => Promise<unknown>;
}): Promise<void> {
  if (o.existing && o.existing.id !== o.selfId) throw o.conflict();
  try {
    await o.write();
  } catch (err) {
    if (isUniqueViolation(err)) throw o.conflict();
    throw err;
  }
}
