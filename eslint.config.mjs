// ESLint flat config: typescript-eslint's recommended rules, syntax only (no type information),
// so a lint run of the whole tree takes a few seconds. Formatting is Prettier's job
// (npm run format); nothing here fights it.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
	{ ignores: ["node_modules/", "dist/", "data/", "test-output/", "services/gateway/dashboard/dist/"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		files: ["**/*.ts", "**/*.mts"],
		languageOptions: { ecmaVersion: 2022, sourceType: "module" },
		linterOptions: { reportUnusedDisableDirectives: "error" },
		rules: {
			// `const { secret: _s, ...rest } = row` drops a field on purpose.
			"@typescript-eslint/no-unused-vars": [
				"error",
				{ argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }
			]
		}
	},
	{
		// Lines <= 120 columns, tabs counted as 4 (as Prettier and .editorconfig). Prettier wraps code but
		// not strings or comments: split long strings with `+`, reword long test titles.
		files: ["**/*.ts", "**/*.mts", "**/*.mjs"],
		rules: {
			"max-len": ["error", { code: 120, tabWidth: 4, ignoreUrls: true, ignoreRegExpLiterals: true }]
		}
	},
	{
		// Tests and benchmarks read JSON bodies, socket payloads and call results whose shape is
		// what they assert on; typing each of them would only restate the assertion.
		files: ["test/**/*.ts", "bench/**/*.ts"],
		rules: { "@typescript-eslint/no-explicit-any": "off" }
	}
);
