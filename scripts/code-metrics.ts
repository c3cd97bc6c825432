/**
 * Code-health figures, reproducible: functions over 50 lines, `any`, `as` casts (not `as const`),
 * `this as X`, and `(x as Error).message`, over every TypeScript file tracked by git.
 *
 *   npx tsx scripts/code-metrics.ts [root] [--list] [--only=<file with one path a line>]
 *
 * `--list` also prints each long function with its file, line and length; `--only` counts only
 * the listed files (to compare the same files before and after a change).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const args = process.argv.slice(2);
const list = args.includes("--list");
const root = path.resolve(args.find(a => !a.startsWith("--")) ?? ".");
const onlyArg = args.find(a => a.startsWith("--only="));
const only = onlyArg
	? new Set(fs.readFileSync(onlyArg.slice("--only=".length), "utf8").split("\n").filter(Boolean))
	: null;
const LONG = 50;

const files = execFileSync("git", ["ls-files", "*.ts", "*.mts"], { cwd: root, encoding: "utf8" })
	.split("\n")
	.filter(f => f && !f.endsWith(".d.ts") && !f.includes("node_modules/"))
	.filter(f => !only || only.has(f));

type Figures = {
	files: number;
	functionsOverLimit: number;
	any: number;
	asCasts: number;
	thisAs: number;
	errAsErrorMessage: number;
};
const empty = (): Figures => ({ files: 0, functionsOverLimit: 0, any: 0, asCasts: 0, thisAs: 0, errAsErrorMessage: 0 });
/** Runtime code and test/benchmark code are counted apart: a `describe` block is a long function too. */
const scopes: Record<"source" | "tests", Figures> = { source: empty(), tests: empty() };
const longOnes: string[] = [];

function functionName(node: ts.Node): string {
	const n = (node as { name?: ts.Node }).name;
	if (n && ts.isIdentifier(n)) return n.text;
	if (n && (ts.isStringLiteral(n) || ts.isPrivateIdentifier(n))) return n.text;
	const parent = node.parent;
	if (parent && (ts.isPropertyAssignment(parent) || ts.isVariableDeclaration(parent)) && ts.isIdentifier(parent.name))
		return parent.name.text;
	return "<anonymous>";
}

for (const file of files) {
	const totals = scopes[/^(test|bench)\//.test(file) ? "tests" : "source"];
	totals.files++;
	const text = fs.readFileSync(path.join(root, file), "utf8");
	const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
	const visit = (node: ts.Node): void => {
		if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
			const body = (node as ts.FunctionLikeDeclaration).body!;
			const start = sf.getLineAndCharacterOfPosition(body.getStart(sf)).line;
			const end = sf.getLineAndCharacterOfPosition(body.getEnd()).line;
			const lines = end - start + 1;
			if (lines > LONG) {
				totals.functionsOverLimit++;
				longOnes.push(`${lines}\t${file}:${start + 1}\t${functionName(node)}`);
			}
		}
		if (node.kind === ts.SyntaxKind.AnyKeyword) totals.any++;
		if (ts.isAsExpression(node)) {
			const isConst = ts.isTypeReferenceNode(node.type) && node.type.typeName.getText(sf) === "const";
			if (!isConst) {
				totals.asCasts++;
				if (node.expression.kind === ts.SyntaxKind.ThisKeyword) totals.thisAs++;
				const parent = node.parent;
				if (
					node.type.getText(sf) === "Error" &&
					ts.isParenthesizedExpression(parent) &&
					ts.isPropertyAccessExpression(parent.parent) &&
					parent.parent.name.text === "message"
				) {
					totals.errAsErrorMessage++;
				}
			}
		}
		ts.forEachChild(node, visit);
	};
	visit(sf);
}

console.log(JSON.stringify(scopes, null, 2));
if (list) for (const l of longOnes.sort((a, b) => parseInt(b) - parseInt(a))) console.log(l);
