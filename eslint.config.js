import effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "docs/api/**",
      "node_modules/**",
      "coverage/**",
      "bench/.build/**",
      "bench/_*.ts",
      "chaos/.build/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { "@effect": effect },
    languageOptions: {
      globals: { process: "readonly", console: "readonly", performance: "readonly", global: "readonly" }
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "no-constant-condition": ["error", { checkLoops: false }],
      "prefer-rest-params": "off",
      // the formatting of the Effect repository (dprint)
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ]
    }
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: "use Clock" },
        { selector: "CallExpression[callee.name='setTimeout']", message: "use Effect.sleep / Schedule" },
        { selector: "CallExpression[callee.name='setInterval']", message: "use Schedule" }
      ]
    }
  }
)
