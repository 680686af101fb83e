// Small DOM helpers.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

export function setStatus(node, text, kind = "") {
  node.textContent = text;
  node.className = `status ${kind}`;
}
