/**
 * The unknown-field check the schema validators do not make: every rendered object is written
 * into a TypeScript source as an object literal typed with its model's interface (the same
 * OpenAPI / CRD schemas, as types), and the compiler's excess-property check reports any field
 * the schema does not have, at any depth (`lifecycle.preStop.slep`, `spec.replica`, a misplaced
 * `resources`), plus any type mismatch. Nothing is executed.
 */
import { join } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './render.js';
import { objectName } from './render.js';
import type { Problem } from './schema.js';
import { modelModule } from './schema.js';
import { PACKAGE_DIR } from './paths.js';

const VIRTUAL_FILE = join(PACKAGE_DIR, '__rendered_objects__.mts');

const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: [],
};

/** The source: one typed constant per object; returns it and the line range of each object. */
export function typedSource(objects: readonly K8sObject[]): { text: string; ranges: { object: string; from: number; to: number }[] } {
  const lines: string[] = [];
  const ranges: { object: string; from: number; to: number }[] = [];
  objects.forEach((o, i) => {
    const spec = modelModule(o.apiVersion, o.kind);
    if (spec === null) return;
    lines.push(`import type { I${o.kind} as T${i} } from ${JSON.stringify(spec)};`);
  });
  objects.forEach((o, i) => {
    if (modelModule(o.apiVersion, o.kind) === null) return;
    const body = JSON.stringify(o, null, 2).split('\n');
    const from = lines.length;
    lines.push(`export const o${i}: T${i} = ${body[0]}`, ...body.slice(1));
    lines[lines.length - 1] += ';';
    ranges.push({ object: objectName(o), from, to: lines.length - 1 });
  });
  return { text: `${lines.join('\n')}\n`, ranges };
}

/** Property names an object literal may have under a contextual type; null when any key goes. */
function allowedKeys(checker: ts.TypeChecker, type: ts.Type): Set<string> | null {
  const keys = new Set<string>();
  const parts = type.isUnion() ? type.types : [type];
  let objectLike = false;
  for (const part of parts) {
    if (!(part.flags & ts.TypeFlags.Object) && !part.isIntersection()) continue;
    objectLike = true;
    if (checker.getIndexInfosOfType(part).length > 0) return null;
    for (const p of checker.getPropertiesOfType(part)) keys.add(p.getName());
  }
  return objectLike ? keys : null;
}

/** Every field of every object literal that its schema type does not declare, with its path. */
function unknownFields(checker: ts.TypeChecker, node: ts.Expression, path: string, out: string[]): void {
  if (ts.isArrayLiteralExpression(node)) {
    node.elements.forEach((e, i) => unknownFields(checker, e, `${path}[${i}]`, out));
    return;
  }
  if (!ts.isObjectLiteralExpression(node)) return;
  const ctx = checker.getContextualType(node);
  const keys = ctx === undefined ? null : allowedKeys(checker, ctx);
  for (const prop of node.properties) {
    if (!ts.isPropertyAssignment(prop)) continue;
    const name = ts.isStringLiteral(prop.name) || ts.isIdentifier(prop.name) ? prop.name.text : prop.name.getText();
    const at = path === '' ? name : `${path}.${name}`;
    if (keys !== null && !keys.has(name)) out.push(at);
    else unknownFields(checker, prop.initializer, at, out);
  }
}

/**
 * Unknown fields (all of them, each with its path) and type mismatches (the compiler reports the
 * first per object), each naming its object.
 */
export function unknownFieldProblems(objects: readonly K8sObject[]): Problem[] {
  const { text, ranges } = typedSource(objects);
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const source = ts.createSourceFile(VIRTUAL_FILE, text, ts.ScriptTarget.ES2022, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError, create) => (name === VIRTUAL_FILE ? source : getSourceFile(name, lang, onError, create));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === VIRTUAL_FILE || fileExists(name);
  const program = ts.createProgram({ rootNames: [VIRTUAL_FILE], options: COMPILER_OPTIONS, host });
  const checker = program.getTypeChecker();
  const problems: Problem[] = [];
  const lineOf = (pos: number): number => source.getLineAndCharacterOfPosition(pos).line;
  const objectAt = (line: number): string => ranges.find((r) => line >= r.from && line <= r.to)?.object ?? '(imports)';

  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const decl of statement.declarationList.declarations) {
      if (decl.initializer === undefined) continue;
      const fields: string[] = [];
      unknownFields(checker, decl.initializer, '', fields);
      const object = objectAt(lineOf(decl.getStart()));
      for (const f of fields) problems.push({ object, message: `unknown field ${f}` });
    }
  }
  const textLines = text.split('\n');
  for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    // Excess properties are reported above, every one of them with its path.
    if (d.code === 2353 || d.code === 2561) continue;
    const line = d.start === undefined ? -1 : lineOf(d.start);
    const at = line >= 0 ? ` (at: ${textLines[line]?.trim() ?? ''})` : '';
    problems.push({ object: objectAt(line), message: `${message}${at}` });
  }
  return problems;
}
