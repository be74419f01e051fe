// First step of `npm test`: the browser and WebGPU tests need Chromium (and its SwiftShader
// Vulkan driver) and the Vulkan loader, which npm cannot install. Checks for them in a fraction of
// a second. If something is missing: as root on a Debian-like system (this project's machines)
// it installs them with apt-get, so the README's test command passes on a fresh machine;
// otherwise it prints the exact command and stops, instead of failing minutes later.
// LENET_INSTALL_PREREQS=1 installs with sudo when not root; =0 never installs.
// LENET_CHROMIUM points at another Chromium/Chrome; LENET_SKIP_WEBGPU=1 skips the WebGPU tests
// (and the Vulkan checks); the consumer browser tests still need Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const onPath = (names) => {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of names) if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
};
const chromium =
  process.env.LENET_CHROMIUM ??
  onPath(['chromium', 'chromium-browser', 'google-chrome']) ??
  '/usr/bin/chromium';
const skipWebgpu = process.env.LENET_SKIP_WEBGPU === '1';
const icd = process.env.LENET_SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
const libvulkan = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
];

function missing() {
  const out = [];
  if (!existsSync(chromium)) out.push(`Chromium (looked for ${chromium})`);
  if (!skipWebgpu && !existsSync(icd))
    out.push(`SwiftShader's Vulkan driver (${icd}, from Debian's chromium)`);
  if (!skipWebgpu && !libvulkan.some((p) => existsSync(p)))
    out.push('the Vulkan loader libvulkan.so.1');
  return out;
}

const root = process.getuid?.() === 0;
const sudo = root ? '' : 'sudo ';
// Optional: real Fashion-MNIST (Debian's dataset-fashion-mnist) for the CLI's dataset-mismatch
// test in the other direction; installed along when installing, else that one test is skipped.
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const fashion = existsSync(FASHION_MNIST) ? '' : ' dataset-fashion-mnist';
const command = `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends chromium libvulkan1${fashion}`;
let absent = missing();
const install = process.env.LENET_INSTALL_PREREQS ?? (root && onPath(['apt-get']) ? '1' : '0');
if (absent.length === 0 && fashion !== '' && install === '1') absent.push('Fashion-MNIST');
if (absent.length > 0 && install === '1') {
  console.error(`check-test-prereqs: installing ${absent.join(', ')}: ${command}`);
  const [cmd, ...args] = root ? ['apt-get', 'update', '-qq'] : ['sudo', 'apt-get', 'update', '-qq'];
  execFileSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const apt = command.split(' && ')[1].split(' ');
  execFileSync(apt[0], apt.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  absent = missing();
}
if (!existsSync(FASHION_MNIST)) {
  console.error(
    `check-test-prereqs: no ${FASHION_MNIST} (Debian's dataset-fashion-mnist): the test of Fashion-MNIST files asked for as MNIST is skipped`,
  );
}
if (absent.length > 0) {
  console.error(
    [
      `npm test needs ${absent.join(', ')}, which npm cannot install. On Debian/Ubuntu:`,
      '',
      `  ${command}`,
      '',
      'or rerun with LENET_INSTALL_PREREQS=1 to have it run, or set LENET_CHROMIUM to a',
      'Chromium/Chrome binary (LENET_SKIP_WEBGPU=1 skips the WebGPU tests). .ci/run does all of it.',
    ].join('\n'),
  );
  process.exit(1);
}
