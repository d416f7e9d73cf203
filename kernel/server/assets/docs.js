// Renders /openapi.json as a list of operations and schemas. Self-contained: no external code.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function refName(ref) { return ref.split("/").pop(); }

function schemaLink(schema) {
  if (!schema) return "";
  if (schema.$ref) return el("a", { href: "#schema-" + refName(schema.$ref) }, refName(schema.$ref));
  if (schema.anyOf) {
    const span = el("span", {});
    schema.anyOf.forEach((part, i) => { if (i) span.append(" | "); span.append(schemaLink(part)); });
    return span;
  }
  if (schema.type === "array") { const span = el("span", {}, "array of "); span.append(schemaLink(schema.items)); return span; }
  let text = schema.type || (schema.enum ? "enum" : "any");
  if (schema.enum) text += " (" + schema.enum.join(", ") + ")";
  if (schema.format) text += " <" + schema.format + ">";
  return el("code", {}, text);
}

function resolveParam(spec, param) {
  return param.$ref ? spec.components.parameters[refName(param.$ref)] : param;
}

function renderOperation(spec, path, method, op) {
  const id = "op-" + (op.operationId || method + path);
  const body = el("div", {});
  if (op.description) body.append(el("p", {}, op.description));
  const params = (op.parameters || []).map((p) => resolveParam(spec, p));
  if (params.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "schema"), el("th", {}, "description")));
    for (const p of params) {
      table.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? " *" : ""))), el("td", {}, p.in),
        el("td", {}, schemaLink(p.schema)), el("td", {}, p.description || "")));
    }
    body.append(el("h4", {}, "Parameters"), table);
  }
  if (op.requestBody) {
    body.append(el("h4", {}, "Request body"));
    for (const [media, content] of Object.entries(op.requestBody.content)) {
      const line = el("p", {}, el("code", {}, media), " — ");
      line.append(schemaLink(content.schema));
      body.append(line);
      if (content.schema && content.schema.properties && !content.schema.$ref) {
        body.append(el("pre", {}, JSON.stringify(content.schema, null, 2)));
      }
    }
  }
  const responses = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "description"), el("th", {}, "content")));
  for (const [status, response] of Object.entries(op.responses || {})) {
    const cell = el("td", {});
    for (const [media, content] of Object.entries(response.content || {})) {
      cell.append(el("code", {}, media), " ");
      cell.append(schemaLink(content.schema));
      cell.append(el("br", {}));
    }
    responses.append(el("tr", {}, el("td", {}, status), el("td", {}, response.description || ""), cell));
  }
  body.append(el("h4", {}, "Responses"), responses);
  return el("details", { class: "op", id: id },
    el("summary", {}, el("span", { class: "method " + method }, method), el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || "")),
    body);
}

function renderSchema(name, schema) {
  const box = el("div", { class: "schema", id: "schema-" + name }, el("h3", {}, name));
  if (schema.description) box.append(el("p", {}, schema.description));
  if (schema.properties) {
    const required = new Set(schema.required || []);
    const table = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "schema"), el("th", {}, "default")));
    for (const [field, sub] of Object.entries(schema.properties)) {
      table.append(el("tr", {}, el("td", {}, el("code", {}, field + (required.has(field) ? " *" : ""))),
        el("td", {}, schemaLink(sub)), el("td", {}, "default" in sub ? JSON.stringify(sub.default) : "")));
    }
    box.append(table);
  } else {
    box.append(el("pre", {}, JSON.stringify(schema, null, 2)));
  }
  return box;
}

async function main() {
  const operations = document.getElementById("operations");
  let spec;
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    spec = await response.json();
  } catch (err) {
    operations.replaceChildren(el("p", { class: "error" }, "Could not load /openapi.json: " + err));
    return;
  }
  document.getElementById("title").textContent = spec.info.title + " API";
  document.getElementById("version").textContent = "version " + spec.info.version + " · OpenAPI " + spec.openapi;
  document.getElementById("description").textContent = spec.info.description || "";
  const toc = document.getElementById("toc");
  operations.replaceChildren(el("h2", {}, "Operations"));
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const node = renderOperation(spec, path, method, op);
      operations.append(node);
      toc.append(el("a", { href: "#" + node.id }, method.toUpperCase() + " " + path));
    }
  }
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {}, "Schemas"));
  for (const name of Object.keys(spec.components.schemas).sort()) {
    schemas.append(renderSchema(name, spec.components.schemas[name]));
  }
}

main();
