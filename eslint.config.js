// One tool for linting and formatting: ESLint with typescript-eslint and @stylistic.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.tsbuildinfo'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  stylistic.configs.customize({ semi: true, quotes: 'single', indent: 2, arrowParens: true, braceStyle: '1tbs' }),
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', performance: 'readonly' } },
    rules: {
      '@stylistic/max-len': ['error', { code: 180, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreComments: true }],
      '@stylistic/operator-linebreak': 'off',
      '@stylistic/multiline-ternary': 'off',
      '@stylistic/indent-binary-ops': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'use node:crypto randomBytes / randomInt (security.md)' }],
      'no-control-regex': 'off',
    },
  },
  {
    // The admin web UI (packages/web): JSX text and elements share lines, as React code reads best.
    files: ['packages/web/**/*.tsx'],
    rules: { '@stylistic/jsx-one-expression-per-line': 'off' },
  },
);
