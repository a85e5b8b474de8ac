// Signing secrets at rest: AES-256-GCM under a master key from SECRET_ENCRYPTION_KEY, bound to the endpoint id.
// Stored form: `enc:v1:<key id>:<base64 iv>:<base64 ciphertext>`. The key id lets the master key rotate without
// downtime: list the new key first and keep the old one until `reencryptSecrets` has rewritten every row.
// A value without the prefix is a secret stored before encryption existed; it is read as is and rewritten later.

export interface Keyring {
  /** Encrypts new values. */
  active: { id: string; key: CryptoKey };
  /** Every key that can decrypt, by id (the active one included). */
  byId: Map<string, CryptoKey>;
}

const PREFIX = "enc:v1:";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `SECRET_ENCRYPTION_KEY` = comma-separated `<id>:<base64 of 32 bytes>` entries, the first being the active key,
 * e.g. `k2:…,k1:…` during a rotation. Throws a clear error on anything else.
 */
export async function parseKeyring(text: string): Promise<Keyring> {
  const entries = text
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error("SECRET_ENCRYPTION_KEY is empty");
  const byId = new Map<string, CryptoKey>();
  let active: Keyring["active"] | undefined;
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const id = entry.slice(0, colon);
    if (colon < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id))
      throw new Error("SECRET_ENCRYPTION_KEY entries must look like <id>:<base64 key>");
    let raw: Uint8Array;
    try {
      raw = Uint8Array.from(atob(entry.slice(colon + 1)), (c) => c.charCodeAt(0));
    } catch {
      throw new Error(`SECRET_ENCRYPTION_KEY key "${id}" is not valid base64`);
    }
    if (raw.byteLength !== 32)
      throw new Error(`SECRET_ENCRYPTION_KEY key "${id}" must be 32 bytes (AES-256), got ${raw.byteLength}`);
    if (byId.has(id)) throw new Error(`SECRET_ENCRYPTION_KEY lists key "${id}" twice`);
    const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    byId.set(id, key);
    active ??= { id, key };
  }
  return { active: active!, byId };
}

/** A fresh `SECRET_ENCRYPTION_KEY` entry (for .dev.vars and for rotation). */
export function generateMasterKeyEntry(id: string): string {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  return `${id}:${btoa(String.fromCharCode(...raw))}`;
}

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** Encrypts `plaintext` for the row `boundTo` (the endpoint id is the AES-GCM additional data: a value copied to another row fails to decrypt). */
async function encryptSecret(keyring: Keyring, plaintext: string, boundTo: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(boundTo) },
      keyring.active.key,
      encoder.encode(plaintext),
    ),
  );
  return `${PREFIX}${keyring.active.id}:${toBase64(iv)}:${toBase64(ciphertext)}`;
}

const isEncrypted = (stored: string) => stored.startsWith(PREFIX);

async function decryptSecret(keyring: Keyring | null, stored: string, boundTo: string): Promise<string> {
  if (!isEncrypted(stored)) return stored; // written before encryption: rewritten by reencryptSecrets
  const [keyId = "", iv = "", ciphertext = ""] = stored.slice(PREFIX.length).split(":");
  const key = keyring?.byId.get(keyId);
  if (!key)
    throw new Error(`signing secret is encrypted under key "${keyId}", which SECRET_ENCRYPTION_KEY does not list`);
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv), additionalData: encoder.encode(boundTo) },
    key,
    fromBase64(ciphertext),
  );
  return decoder.decode(plaintext);
}

/** What the rest of the service sees: seal a new secret for a row, open a stored one. */
export interface SecretBox {
  seal(plaintext: string, boundTo: string): Promise<string>;
  open(stored: string, boundTo: string): Promise<string>;
  /** The prefix every value sealed under the active key starts with (values without it are due for rewriting). */
  activePrefix(): Promise<string>;
}

/** A box over `SECRET_ENCRYPTION_KEY`; the key text is parsed once, on first use. */
export function createSecretBox(keyText: string | undefined): SecretBox {
  let keyring: Promise<Keyring> | undefined;
  const ring = () => {
    if (!keyText)
      throw new Error("SECRET_ENCRYPTION_KEY is not configured: signing secrets are never stored in the clear");
    return (keyring ??= parseKeyring(keyText));
  };
  return {
    seal: async (plaintext, boundTo) => encryptSecret(await ring(), plaintext, boundTo),
    open: async (stored, boundTo) => decryptSecret(isEncrypted(stored) ? await ring() : null, stored, boundTo),
    activePrefix: async () => `${PREFIX}${(await ring()).active.id}:`,
  };
}
