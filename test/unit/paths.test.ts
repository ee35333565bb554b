import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { toWorkspacePath } from '../../src/sandbox/paths.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof BerthError ? error.code : `not a BerthError: ${String(error)}`;
  }
  return undefined;
}

describe('toWorkspacePath', () => {
  it.each([
    ['a/b', 'a/b'],
    ['./a', 'a'],
    ['a/./b/', 'a/b'],
    ['a/../b', 'b'],
    ['/workspace/a', 'a'],
    ['/workspace/a/b.txt', 'a/b.txt'],
    ['/workspace', '.'],
    ['/workspace/', '.'],
    ['.', '.'],
    ['a\\b', 'a/b'],
  ])('accepts %j as %j', (input, expected) => {
    expect(toWorkspacePath(input)).toBe(expected);
  });

  it.each([
    ['..'],
    ['../x'],
    ['a/../../x'],
    ['/etc/passwd'],
    ['/workspace/../etc/passwd'],
    ['/workspacefoo/a'],
    [''],
    ['   '],
    ['a\0b'],
    ['x'.repeat(5000)],
  ])('rejects %j with invalid_path', (input) => {
    expect(codeOf(() => toWorkspacePath(input))).toBe('invalid_path');
  });

  it.each([[undefined], [null], [42], [{}], [['a']]])('rejects the non-string %j with invalid_path', (input) => {
    expect(codeOf(() => toWorkspacePath(input))).toBe('invalid_path');
  });

  it('names the argument in its message', () => {
    expect(() => toWorkspacePath('../x', 'cwd')).toThrow(/^cwd /);
  });
});
