/**
 * How a value is quoted in an error message: as JSON, so that spaces and newlines show, cut at 120
 * characters, and never when it looks like a private key, whatever key it was set under (a key pasted
 * under a misspelt or wrong setting would otherwise be printed to the terminal and the CI log).
 */
const PRIVATE_KEY_MARKS = [
  /PRIVATE KEY/,
  // "openssh-key-v1" in base64: the start of an OpenSSH private key's body, pasted without its armour.
  /b3BlbnNzaC1rZXktdjE/,
];

const NOT_SHOWN_KEY = '(looks like a private key: not shown)';

export function shownValue(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  if (PRIVATE_KEY_MARKS.some((mark) => mark.test(json))) return NOT_SHOWN_KEY;
  return json.length > 120 ? `${json.slice(0, 117)}...` : json;
}
