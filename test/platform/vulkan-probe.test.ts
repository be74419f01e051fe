/** The Linux check that keeps Dawn (and its native Vulkan warnings) unloaded without Vulkan. */
import { expect, test } from 'vitest';
import { icdFolders, type VulkanProbeHost, vulkanUnavailable } from '../../src/platform/vulkan.js';

function host(
  files: Record<string, string>,
  env: NodeJS.ProcessEnv = {},
  platform: NodeJS.Platform = 'linux',
): VulkanProbeHost {
  return {
    platform,
    env: { HOME: '/home/u', ...env },
    readFile: (p) => (p in files ? new TextEncoder().encode(files[p]) : undefined),
    list: (d) =>
      Object.keys(files)
        .filter((p) => p.startsWith(`${d}/`))
        .map((p) => p.slice(d.length + 1)),
    exists: (p) => p in files,
  };
}
const cacheWithLoader = { '/etc/ld.so.cache': 'ld.so-1.7.0\0libc.so.6\0libvulkan.so.1\0' };
const cacheWithout = { '/etc/ld.so.cache': 'ld.so-1.7.0\0libc.so.6\0' };

test('a loader and a driver manifest: Dawn may try', () => {
  expect(
    vulkanUnavailable(
      host({ ...cacheWithLoader, '/usr/share/vulkan/icd.d/nvidia_icd.json': '{}' }),
    ),
  ).toBeUndefined();
  expect(
    vulkanUnavailable(
      host({ ...cacheWithLoader, '/etc/vulkan/icd.d/radeon_icd.x86_64.json': '{}' }),
    ),
  ).toBeUndefined();
  // A loader found through LD_LIBRARY_PATH counts too.
  expect(
    vulkanUnavailable(
      host(
        { ...cacheWithout, '/opt/vk/libvulkan.so.1': '', '/usr/share/vulkan/icd.d/a.json': '' },
        { LD_LIBRARY_PATH: '/opt/vk' },
      ),
    ),
  ).toBeUndefined();
});

test('no driver manifest, or no loader: Dawn is not started, and the reason says why', () => {
  expect(vulkanUnavailable(host(cacheWithLoader))).toMatch(
    /^no Vulkan driver \(no driver manifest in \/usr\/share\/vulkan\/icd\.d/,
  );
  expect(
    vulkanUnavailable(host({ ...cacheWithLoader, '/usr/share/vulkan/icd.d/README': '' })),
  ).toMatch(/^no Vulkan driver/);
  expect(
    vulkanUnavailable(host({ ...cacheWithout, '/usr/share/vulkan/icd.d/a.json': '' })),
  ).toMatch(/^no Vulkan loader \(libvulkan\.so\.1/);
});

test('undecidable or overridden hosts are left to Dawn', () => {
  for (const v of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES']) {
    expect(vulkanUnavailable(host(cacheWithout, { [v]: '/x.json' }))).toBeUndefined();
  }
  expect(vulkanUnavailable(host({}, {}, 'darwin'))).toBeUndefined();
  expect(vulkanUnavailable(host({}, {}, 'win32'))).toBeUndefined();
  // No ld.so cache (musl, NixOS): the loader cannot be looked up, only the manifests are checked.
  expect(
    vulkanUnavailable(
      host(
        { '/run/opengl-driver/share/vulkan/icd.d/a.json': '' },
        { XDG_DATA_DIRS: '/run/opengl-driver/share' },
      ),
    ),
  ).toBeUndefined();
});

test('the manifest folders follow the XDG variables like the Vulkan loader', () => {
  expect(icdFolders({ HOME: '/home/u' })).toEqual([
    '/home/u/.config/vulkan/icd.d',
    '/etc/xdg/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    '/usr/local/etc/vulkan/icd.d',
    '/home/u/.local/share/vulkan/icd.d',
    '/usr/local/share/vulkan/icd.d',
    '/usr/share/vulkan/icd.d',
  ]);
  expect(icdFolders({ HOME: '/h', XDG_DATA_DIRS: '/a:/b' })).toContain('/b/vulkan/icd.d');
});
