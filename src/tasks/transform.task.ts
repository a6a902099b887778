import { Type } from 'typebox';
import type { TaskDefinition } from './task.js';

/**
 * Shapes data with CEL: the engine has already evaluated every `${{ }}` in `with`, so the step's
 * output is `with` itself (`with: { total: "${{ inputs.a + inputs.b }}" }` → `output.total`).
 */
export const transformTask: TaskDefinition<Record<string, unknown>, Record<string, unknown>> = {
  type: 'transform',
  description: 'Compute values from inputs and earlier steps with CEL expressions; the output is `with`.',
  targetTypes: [],
  inputSchema: Type.Record(Type.String(), Type.Unknown()),
  outputSchema: Type.Record(Type.String(), Type.Unknown()),
  estimatedMs: 1,
  run: (input) => Promise.resolve(input),
};
