/** Captures what the code under test says through the OpenTelemetry `diag` logger. */
import { diag, DiagLogLevel } from '@opentelemetry/api';

export interface DiagMessage {
  level: 'error' | 'warn' | 'info' | 'debug' | 'verbose';
  text: string;
}

export interface CapturedDiag {
  /** Every message at every level, in order; not the API's own "@opentelemetry/api: …" lines. */
  messages: DiagMessage[];
  /** The texts of every message. */
  texts(): string[];
  /** Warnings and errors: what an operator would see. */
  problems(): string[];
  /** Resolves with the first message from now on whose text matches, without polling. */
  next(pattern: RegExp): Promise<string>;
  /** Disables `diag` again. */
  restore(): void;
}

/** Installs a `diag` logger at every level that records what it is told; `restore()` undoes it. */
export function captureDiag(): CapturedDiag {
  const messages: DiagMessage[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (text: string) => void }>();
  const log = (level: DiagMessage['level']) => (message: string, ...args: unknown[]) => {
    if (message.startsWith('@opentelemetry/api:')) return;
    const text = [message, ...args.map(String)].join(' ');
    messages.push({ level, text });
    for (const waiter of waiters) {
      if (!waiter.pattern.test(text)) continue;
      waiters.delete(waiter);
      waiter.resolve(text);
    }
  };
  diag.setLogger(
    { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), verbose: log('verbose') },
    { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true },
  );
  return {
    messages,
    texts: () => messages.map((m) => m.text),
    problems: () => messages.filter((m) => m.level === 'warn' || m.level === 'error').map((m) => m.text),
    next: (pattern) => new Promise((resolve) => waiters.add({ pattern, resolve })),
    restore: () => diag.disable(),
  };
}
