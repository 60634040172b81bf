/**
 * The AWS SDK warns once per process, when its first client is built, that its future releases
 * need a newer Node. The SDK version in use is pinned by flowsync's package.json and supports
 * this Node, so a flowsync user (CLI or library) cannot act on it. The SDK's own switch is an
 * environment variable; it is set only while the client is built and then put back as it was,
 * so the host process's environment (and its children's) stays the user's, and every other
 * warning, the SDK's included, is still printed.
 */
const SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

export function withoutNodeVersionWarning<T>(build: () => T): T {
  const before = process.env[SWITCH];
  process.env[SWITCH] = 'true';
  try {
    return build();
  } finally {
    if (before === undefined) delete process.env[SWITCH];
    else process.env[SWITCH] = before;
  }
}
