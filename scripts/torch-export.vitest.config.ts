// Runs scripts/check-torch-export.ts (not part of the default test run: it needs PyTorch):
//   npx vitest run --config scripts/torch-export.vitest.config.ts
import { defineConfig } from 'vitest/config';
import base from '../vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['scripts/check-torch-export.ts'] },
});
