import { InteropFormatError, UnsafePickleError } from './errors.js';

// A restricted reader for Python pickles (protocols 0-5 framing, the opcodes a PyTorch
// `state_dict` uses). It is a stack machine that never calls anything by name from the data:
// a global is pushed only if it is on the caller's allow-list, and REDUCE calls the caller's own
// TypeScript implementation of that global. Opcodes that build arbitrary objects (INST, OBJ,
// NEWOBJ, EXT*), text-protocol globals outside the list, and anything unknown are refused.

/** A Python tuple read from a pickle. */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict (or OrderedDict) read from a pickle: keys are strings or numbers. */
export class PyDict {
  readonly entries = new Map<string | number, PyValue>();
  /** Attributes set by BUILD (an OrderedDict's `_metadata`). */
  attributes: PyValue = null;
}

/** An allow-listed global (`module.name`), as pushed by GLOBAL / STACK_GLOBAL. */
export class PyGlobal {
  constructor(readonly name: string) {}
}

/** An object made by a caller's reducer (e.g. a tensor) or persistent loader (a storage). */
export class PyOpaque<T = unknown> {
  constructor(
    readonly kind: string,
    readonly value: T,
  ) {}
}

/** What the restricted reader can produce. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | PyOpaque;

/** How {@link readPickle} treats globals and persistent ids. */
export interface PickleHooks {
  /**
   * The only globals allowed, by `module.name`, each with the TypeScript function REDUCE calls
   * for it (`undefined` for a global that is only passed around, never called).
   */
  globals: ReadonlyMap<string, ((args: PyValue[]) => PyValue) | undefined>;
  /** Resolves a persistent id (BINPERSID); absent: persistent ids are refused. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Name of the data in messages. */
  source: string;
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;
const MAX_STACK = 100_000;
const MAX_MEMO = 1_000_000;

const REFUSED: Record<number, string> = {
  105: 'INST',
  111: 'OBJ',
  129: 'NEWOBJ',
  146: 'NEWOBJ_EX',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  80: 'PERSID',
};

/**
 * Reads one pickle starting at `offset`, up to and including its STOP opcode.
 *
 * @returns The unpickled value and the offset just past STOP (a legacy PyTorch file is several
 *   pickles back to back).
 * @throws `UnsafePickleError` for a global outside `hooks.globals` or a refused opcode;
 *   `InteropFormatError` for a truncated or malformed pickle.
 */
export function readPickle(
  bytes: Uint8Array,
  hooks: PickleHooks,
  offset = 0,
): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let p = offset;
  const fail = (msg: string): never => {
    throw new InteropFormatError(`${hooks.source}: pickle at offset ${p}: ${msg}`);
  };
  const need = (n: number) => {
    if (p + n > bytes.length) fail(`truncated (needs ${n} more bytes, ${bytes.length - p} left)`);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(p, p + n);
    p += n;
    return out;
  };
  const readLine = () => {
    const nl = bytes.indexOf(0x0a, p);
    if (nl < 0) fail('truncated (unterminated line)');
    const line = new TextDecoder('latin1').decode(bytes.subarray(p, nl));
    p = nl + 1;
    return line;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };
  const push = (v: PyValue) => {
    if (stack.length >= MAX_STACK) fail('stack too deep');
    stack.push(v);
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) return fail('stack underflow');
    if (v === MARK) return fail('unexpected mark');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) return fail('no mark to pop to');
    const items = stack.splice(m);
    items.shift(); // the mark itself
    if (items.some((v) => v === MARK)) fail('nested mark');
    return items as PyValue[];
  };
  const memoPut = (index: number) => {
    if (memo.size >= MAX_MEMO && !memo.has(index)) fail('memo too large');
    memo.set(index, top());
  };
  const memoGet = (index: number) => {
    const v = memo.get(index);
    if (v === undefined) fail(`memo key ${index} is unset`);
    push(v as PyValue);
  };
  const dictKey = (k: PyValue): string | number => {
    if (typeof k === 'string' || typeof k === 'number') return k;
    return fail(`dict key of unsupported type (${describe(k)})`);
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof PyDict)) fail(`SETITEM(S) on ${describe(dict)}, not a dict`);
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2)
      (dict as PyDict).entries.set(dictKey(items[i] as PyValue), items[i + 1] as PyValue);
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    if (!hooks.globals.has(full)) {
      throw new UnsafePickleError(
        full,
        `${hooks.source}: pickle at offset ${p} refers to '${full}', which a state_dict never needs; refused, nothing was executed`,
      );
    }
    push(new PyGlobal(full));
  };
  // Integers beyond 2^53 stay bigints (PyTorch's legacy magic number is one).
  const int = (v: bigint): number | bigint =>
    v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) ? v : Number(v);

  for (;;) {
    need(1);
    const at = p;
    const op = bytes[p++] as number;
    switch (op) {
      case 0x80: // PROTO
        take(1);
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (marks.length > 0 || stack.length !== 1) fail('STOP with a malformed stack');
        return { value: pop(), end: p };
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        need(4);
        push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        push(take(1)[0] as number);
        break;
      case 0x4d: // BININT2
        need(2);
        push(view.getUint16(p, true));
        p += 2;
        break;
      case 0x49: {
        // INT (text): also True/False as I01 / I00
        const line = readLine();
        if (line === '01') push(true);
        else if (line === '00') push(false);
        else if (/^-?\d+$/.test(line)) push(int(BigInt(line)));
        else fail(`bad INT ${JSON.stringify(line)}`);
        break;
      }
      case 0x8a: {
        // LONG1: n bytes, little-endian two's complement
        const n = take(1)[0] as number;
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
        if (n > 0 && ((b[n - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * n);
        if (n > 64) fail('integer too long');
        push(int(v));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = view.getUint32(p, true);
        p += 4;
        push(utf8(take(n)));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        const n = take(1)[0] as number;
        push(utf8(take(n)));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const n = Number(view.getBigUint64(p, true));
        p += 8;
        push(utf8(take(n)));
        break;
      }
      case 0x54: {
        // BINSTRING (Python 2 str)
        need(4);
        const n = view.getInt32(p, true);
        p += 4;
        if (n < 0) fail('negative string length');
        push(new TextDecoder('latin1').decode(take(n)));
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING
        const n = take(1)[0] as number;
        push(new TextDecoder('latin1').decode(take(n)));
        break;
      }
      case 0x42: {
        // BINBYTES
        need(4);
        const n = view.getUint32(p, true);
        p += 4;
        push(take(n).slice());
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        const n = take(1)[0] as number;
        push(take(n).slice());
        break;
      }
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail(`APPEND to ${describe(list)}, not a list`);
        (list as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail(`APPENDS to ${describe(list)}, not a list`);
        for (const v of items) (list as PyValue[]).push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = readLine();
        global(module, readLine());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail(`REDUCE on ${describe(fn)}, not an allowed global`);
        if (!(args instanceof PyTuple)) fail('REDUCE arguments are not a tuple');
        const impl = hooks.globals.get((fn as PyGlobal).name);
        if (impl === undefined) {
          throw new UnsafePickleError(
            (fn as PyGlobal).name,
            `${hooks.source}: pickle at offset ${at} calls '${(fn as PyGlobal).name}', which is not callable here; refused`,
          );
        }
        push(impl((args as PyTuple).items));
        break;
      }
      case 0x62: {
        // BUILD: only an (Ordered)Dict's attributes (state_dict._metadata)
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict)) {
          throw new UnsafePickleError(
            'opcode BUILD',
            `${hooks.source}: pickle at offset ${at} sets the state of ${describe(target)}; only a dict's attributes are accepted`,
          );
        }
        (target as PyDict).attributes = state;
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (hooks.persistentLoad === undefined) fail('persistent id where none is expected');
        push((hooks.persistentLoad as (pid: PyValue) => PyValue)(pid));
        break;
      }
      case 0x71: // BINPUT
        memoPut(take(1)[0] as number);
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memoPut(view.getUint32(p, true));
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x70: {
        // PUT (text)
        const line = readLine();
        if (!/^\d+$/.test(line)) fail('bad PUT');
        memoPut(Number(line));
        break;
      }
      case 0x68: // BINGET
        memoGet(take(1)[0] as number);
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        memoGet(view.getUint32(p, true));
        p += 4;
        break;
      case 0x67: {
        // GET (text)
        const line = readLine();
        if (!/^\d+$/.test(line)) fail('bad GET');
        memoGet(Number(line));
        break;
      }
      default: {
        const name = REFUSED[op];
        if (name !== undefined) {
          throw new UnsafePickleError(
            `opcode ${name}`,
            `${hooks.source}: pickle at offset ${at} uses opcode ${name}, which builds arbitrary objects; refused`,
          );
        }
        p = at;
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}

function describe(v: StackItem | undefined): string {
  if (v === null) return 'None';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return 'a dict';
  if (v instanceof PyGlobal) return `'${v.name}'`;
  if (v instanceof PyOpaque) return `a ${v.kind}`;
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'a list';
  return typeof v;
}

/** Writes the pickle opcodes (protocol 2) that a PyTorch `state_dict` needs. */
export class PickleWriter {
  #chunks: number[] = [];

  #byte(...b: number[]): this {
    for (const x of b) this.#chunks.push(x);
    return this;
  }

  #u32(v: number): this {
    return this.#byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }

  proto(): this {
    return this.#byte(0x80, 2);
  }

  global(module: string, name: string): this {
    this.#byte(0x63);
    for (const c of `${module}\n${name}\n`) this.#byte(c.charCodeAt(0));
    return this;
  }

  mark(): this {
    return this.#byte(0x28);
  }

  string(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    this.#byte(0x58).#u32(utf8.length);
    for (const b of utf8) this.#byte(b);
    return this;
  }

  int(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`int ${v}`);
    if (v < 256) return this.#byte(0x4b, v);
    if (v < 65536) return this.#byte(0x4d, v & 0xff, v >>> 8);
    return this.#byte(0x4a).#u32(v);
  }

  bool(v: boolean): this {
    return this.#byte(v ? 0x88 : 0x89);
  }

  emptyTuple(): this {
    return this.#byte(0x29);
  }

  /** TUPLE: everything since the last mark. */
  tuple(): this {
    return this.#byte(0x74);
  }

  reduce(): this {
    return this.#byte(0x52);
  }

  persistentId(): this {
    return this.#byte(0x51);
  }

  setItems(): this {
    return this.#byte(0x75);
  }

  stop(): Uint8Array {
    this.#byte(0x2e);
    return Uint8Array.from(this.#chunks);
  }
}
