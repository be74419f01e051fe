import { VERSION } from '../index.js';

console.log(`lenet-mnist ${VERSION}`);
