/**
 * Whether Dawn (the `webgpu` package) can possibly find a GPU on Linux, decided without loading
 * it. There Dawn reaches GPUs only through Vulkan; with no Vulkan loader or no driver manifest,
 * `requestAdapter()` returns null after the native code has printed warnings
 * (`vkCreateInstance: Found no drivers!`) straight to the process' stderr, which no JavaScript
 * can silence. Checking the files the Vulkan loader reads keeps such hosts quiet.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What the check reads; tests pass their own. */
export interface VulkanProbeHost {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** Contents of a file, or `undefined` when it cannot be read. */
  readFile(path: string): Uint8Array | undefined;
  /** Names in a folder, or `[]` when it cannot be read. */
  list(dir: string): string[];
  exists(path: string): boolean;
}

const nodeHost: VulkanProbeHost = {
  platform: process.platform,
  env: process.env,
  readFile: (path) => {
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  },
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  exists: existsSync,
};

/** Folders where the Vulkan loader looks for driver manifests (`*.json`) on Linux. */
export function icdFolders(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME ?? homedir();
  const configDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const dataDirs = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const configHome = env.XDG_CONFIG_HOME || join(home, '.config');
  const dataHome = env.XDG_DATA_HOME || join(home, '.local', 'share');
  return [configHome, ...configDirs, '/etc', '/usr/local/etc', dataHome, ...dataDirs]
    .filter((d) => d !== '')
    .map((d) => join(d, 'vulkan', 'icd.d'));
}

/**
 * Why Dawn cannot find a GPU on this host, or `undefined` when it may (or when this cannot be
 * told: not Linux, drivers named by `VK_ICD_FILENAMES`/`VK_DRIVER_FILES`/`VK_ADD_DRIVER_FILES`,
 * or no `/etc/ld.so.cache` to look the loader up in, as on musl or NixOS).
 */
export function vulkanUnavailable(host: VulkanProbeHost = nodeHost): string | undefined {
  if (host.platform !== 'linux') return undefined;
  const { env } = host;
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env.VK_ADD_DRIVER_FILES) return undefined;
  const cache = host.readFile('/etc/ld.so.cache');
  if (cache !== undefined) {
    const inCache = Buffer.from(cache.buffer, cache.byteOffset, cache.byteLength).includes(
      'libvulkan.so.1',
    );
    const inPath = (env.LD_LIBRARY_PATH ?? '')
      .split(':')
      .some((d) => d !== '' && host.exists(join(d, 'libvulkan.so.1')));
    if (!inCache && !inPath) {
      return 'no Vulkan loader (libvulkan.so.1 is not in the ld.so cache or LD_LIBRARY_PATH), which WebGPU needs on Linux';
    }
  }
  const folders = icdFolders(env);
  if (!folders.some((d) => host.list(d).some((f) => f.endsWith('.json')))) {
    return 'no Vulkan driver (no driver manifest in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or the other places the Vulkan loader looks), which WebGPU needs on Linux';
  }
  return undefined;
}
