import type { ErrorCode, YAMLError } from 'yaml';

/**
 * What each `yaml` error code means, in words of our own. The package's own messages quote the
 * source (a code frame, and often the offending token or escape), and the line of a config file may
 * hold a secret (jwt_secret, secret_key, an api_key), so none of that text reaches a message.
 */
const kinds: Record<ErrorCode, string> = {
  ALIAS_PROPS: 'an alias cannot have an anchor or a tag',
  BAD_ALIAS: 'malformed alias',
  BAD_COLLECTION_TYPE: 'tag does not fit this kind of collection',
  BAD_DIRECTIVE: 'bad or unknown directive',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'anchor or tag in the wrong place',
  BAD_SCALAR_START: 'a plain value cannot start with this character (quote it)',
  BLOCK_AS_IMPLICIT_KEY: 'nested mapping where a single value was expected (quote the value or fix the indentation)',
  BLOCK_IN_FLOW: 'block collection inside a flow collection',
  DUPLICATE_KEY: 'duplicate key',
  IMPOSSIBLE: 'unreadable YAML',
  KEY_OVER_1024_CHARS: 'key longer than 1024 characters',
  MISSING_CHAR: 'missing character (an unclosed quote or bracket, or a missing comma or colon)',
  MULTILINE_IMPLICIT_KEY: 'a key cannot span lines',
  MULTIPLE_ANCHORS: 'more than one anchor on a node',
  MULTIPLE_DOCS: 'more than one document in the file',
  MULTIPLE_TAGS: 'more than one tag on a node',
  NON_STRING_KEY: 'key that is not a string',
  RESOURCE_EXHAUSTION: 'aliases expand too much',
  TAB_AS_INDENT: 'tab used for indentation',
  TAG_RESOLVE_FAILED: 'unknown tag',
  UNEXPECTED_TOKEN: 'unexpected token',
};

/** "at line L, column C (CODE): KIND" for a yaml error or warning, without any of the source text. */
export function describeYamlProblem(problem: YAMLError): string {
  const start = problem.linePos?.[0];
  const where = start ? `at line ${start.line}, column ${start.col}` : `at offset ${problem.pos[0]}`;
  const kind = Object.hasOwn(kinds, problem.code) ? kinds[problem.code] : 'syntax error';
  return `${where} (${problem.code}): ${kind}`;
}
