/**
 * Preconditions of the WebGPU tests. They run on a real WebGPU implementation without a GPU:
 * Dawn (npm `webgpu`) or Chromium over SwiftShader, the CPU Vulkan driver that Debian's
 * `chromium` package installs. A missing piece fails the tests with a message naming it; only
 * LENET_SKIP_WEBGPU=1 skips them, so that a CI image without it cannot pass silently.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** LENET_SKIP_WEBGPU=1 was set explicitly. */
export const SKIP_WEBGPU = process.env.LENET_SKIP_WEBGPU === '1';

/** SwiftShader's Vulkan ICD manifest as Debian's chromium installs it. */
export const SWIFTSHADER_ICD =
  process.env.LENET_SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * The Chromium that Playwright drives for the browser tests: `$LENET_CHROMIUM` if set, else the
 * first of `chromium`, `chromium-browser`, `google-chrome` on the PATH, else Debian's path.
 */
export const CHROMIUM =
  process.env.LENET_CHROMIUM ??
  findOnPath(['chromium', 'chromium-browser', 'google-chrome']) ??
  '/usr/bin/chromium';

function findOnPath(names: string[]): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of names) {
      if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

/** The one command that installs what the browser and WebGPU tests need on Debian/Ubuntu. */
export const INSTALL_COMMAND =
  'apt-get update && apt-get install -y --no-install-recommends chromium libvulkan1 (as root)';

const LIBVULKAN = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
];

const HOW = `install them with \`${INSTALL_COMMAND}\` (or \`.ci/run\`, which does it), point LENET_CHROMIUM at another Chromium, or set LENET_SKIP_WEBGPU=1 to skip the WebGPU tests`;

/**
 * Points Vulkan at SwiftShader. Must run before Dawn loads (the Vulkan loader reads
 * VK_ICD_FILENAMES once per process): call it at the top of a test file, before any initBackend.
 * Throws, with what is missing and how to get it, if SwiftShader or libvulkan is absent.
 */
export function useSwiftShader(): void {
  if (SKIP_WEBGPU) return;
  if (!existsSync(SWIFTSHADER_ICD)) {
    throw new Error(
      `WebGPU tests need SwiftShader's Vulkan driver manifest at ${SWIFTSHADER_ICD} (Debian package 'chromium'), which is missing: ${HOW}`,
    );
  }
  if (!LIBVULKAN.some((p) => existsSync(p))) {
    throw new Error(
      `WebGPU tests need the Vulkan loader libvulkan.so.1 (Debian package 'libvulkan1'), found in none of ${LIBVULKAN.join(', ')}: ${HOW}`,
    );
  }
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

/**
 * Fails at once, with the install command, if Chromium is missing: call it first thing in a
 * browser suite's `beforeAll` (before any launch could wait for a hook timeout).
 */
export function requireChromium(what = 'Browser tests'): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${what} need Chromium at ${CHROMIUM} (from $LENET_CHROMIUM or the PATH), which is missing: install it with \`${INSTALL_COMMAND}\` (or run \`.ci/run\`), or set LENET_CHROMIUM to a Chromium/Chrome binary.`,
    );
  }
}

export const MISSING_ADAPTER_HELP = `Dawn found no adapter although VK_ICD_FILENAMES points at SwiftShader (${SWIFTSHADER_ICD}): check that libvulkan1 and chromium are installed, or ${HOW}`;
