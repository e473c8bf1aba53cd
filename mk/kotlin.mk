# The JVM/Kotlin SDK (bindings/kotlin): uniffi bindings over the core, built by
# Maven. Cargo builds the native library once (the root `make build` does, with
# `-p fractal-kotlin`); `kotlin-prepare` copies it into the Maven resources
# under JNA's resource prefix (linux-x86-64/, git-ignored) and generates the
# Kotlin bindings into target/generated-sources/uniffi with uniffi-bindgen
# (bindings/kotlin/bindgen, pinned to the workspace's uniffi). Maven never runs
# cargo.

MVN ?= mvn
# MVN_REPO=/tmp/m2-fresh measures a cold Maven cache.
MVN_FLAGS ?= -B -q --no-transfer-progress $(if $(MVN_REPO),-Dmaven.repo.local=$(MVN_REPO))
KOTLIN_DIR := $(ROOT)/bindings/kotlin
KOTLIN_LIB := $(RELEASE)/libfractal_kotlin.so
KOTLIN_RES := $(KOTLIN_DIR)/src/main/resources/linux-x86-64
KOTLIN_GEN := $(KOTLIN_DIR)/target/generated-sources/uniffi
UNIFFI_BINDGEN := $(RELEASE)/uniffi-bindgen
E2E_AGENT_KOTLIN := $(ROOT)/build/e2e-agent-kotlin
KOTLIN_JAR := $(KOTLIN_DIR)/target/fractal-lba-0.1.0.jar

TEST_TARGETS += test-kotlin
.PHONY: kotlin-tools kotlin-prepare test-kotlin e2e-agent-kotlin jar-kotlin

# $(call kotlin_apt,<command>,<debian packages>): install when the command is missing.
define kotlin_apt
	@if ! command -v $(1) >/dev/null 2>&1; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing $(2) (for $(1))"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(2) >/dev/null; \
	fi
endef

kotlin-tools: ## Install what the Kotlin SDK needs when missing (JDK 17, Maven; via apt).
	$(call kotlin_apt,javac,openjdk-17-jdk-headless)
	$(call kotlin_apt,$(MVN),maven)

# `build` makes libfractal_kotlin.so in the one cargo build of the workspace.
kotlin-prepare: build kotlin-tools ## Kotlin SDK: native library into the Maven resources, uniffi Kotlin bindings generated.
	$(CARGO) build --release --locked -p fractal-kotlin-bindgen
	mkdir -p $(KOTLIN_RES)
	cmp -s $(KOTLIN_LIB) $(KOTLIN_RES)/libfractal_kotlin.so || cp $(KOTLIN_LIB) $(KOTLIN_RES)/libfractal_kotlin.so
	@# Replaced only when it changed, so Maven does not recompile an unchanged tree.
	rm -rf $(KOTLIN_GEN).new
	@# uniffi runs `cargo metadata` (to find uniffi.toml) with $$CARGO when set: a plain cargo here.
	cd $(KOTLIN_DIR) && env -u CARGO $(UNIFFI_BINDGEN) generate --library $(KOTLIN_RES)/libfractal_kotlin.so \
	  --language kotlin --out-dir $(KOTLIN_GEN).new --no-format >/dev/null
	if diff -rq $(KOTLIN_GEN).new $(KOTLIN_GEN) >/dev/null 2>&1; then rm -rf $(KOTLIN_GEN).new; \
	else rm -rf $(KOTLIN_GEN) && mv $(KOTLIN_GEN).new $(KOTLIN_GEN); fi
	@echo "kotlin-prepare: $$(find $(KOTLIN_GEN) -name '*.kt' | wc -l) generated file(s), $(KOTLIN_RES)/libfractal_kotlin.so"

# The round-trip tests start the release `fractal` binary that `build` makes.
test-kotlin: kotlin-prepare ## Kotlin SDK: mvn test (every golden case, the error mapping, the client against fractal serve and a scripted server).
	rm -rf $(KOTLIN_DIR)/target/surefire-reports
	cd $(KOTLIN_DIR) && $(MVN) $(MVN_FLAGS) test -Dfractal.bin=$(FRACTAL)
	@# Maven is quiet (-q): the count, from Surefire's reports.
	@n=0; bad=0; skip=0; for x in $(KOTLIN_DIR)/target/surefire-reports/TEST-*.xml; do \
	  h=$$(grep -o '<testsuite [^>]*' "$$x"); a() { echo "$$h" | sed -n "s/.* $$1=\"\([0-9]*\)\".*/\1/p"; }; \
	  n=$$((n + $$(a tests))); bad=$$((bad + $$(a failures) + $$(a errors))); skip=$$((skip + $$(a skipped))); \
	done; echo "test-kotlin: $$((n - bad - skip)) passed, $$bad failed, $$skip skipped"

jar-kotlin: kotlin-prepare ## Kotlin SDK: the jar (native library for linux-x86-64 inside) in bindings/kotlin/target.
	cd $(KOTLIN_DIR) && $(MVN) $(MVN_FLAGS) package -DskipTests
	@ls $(KOTLIN_JAR)

# The agent runs on the packaged jar (not target/classes), so the e2e suite also
# checks that the jar carries the native library and JNA loads it from there.
e2e-agent-kotlin: kotlin-prepare ## Build the Kotlin SDK's e2e agent, build/e2e-agent-kotlin (one JSON command on stdin, one JSON line out).
	cd $(KOTLIN_DIR) && $(MVN) $(MVN_FLAGS) package -DskipTests dependency:build-classpath \
	  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
	jar tf $(KOTLIN_JAR) | grep -qx 'linux-x86-64/libfractal_kotlin.so' \
	  || { echo "$(KOTLIN_JAR) lacks linux-x86-64/libfractal_kotlin.so" >&2; exit 1; }
	@mkdir -p $(dir $(E2E_AGENT_KOTLIN))
	@printf '#!/bin/sh\n# Written by make e2e-agent-kotlin.\nexec java -Djna.nosys=true -Xshare:auto -XX:TieredStopAtLevel=1 -cp "%s:%s:%s" io.github.fractallba.e2e.Agent "$$@"\n' \
	  "$(KOTLIN_JAR)" "$(KOTLIN_DIR)/target/test-classes" "$$(cat $(KOTLIN_DIR)/target/test-classpath.txt)" \
	  > $(E2E_AGENT_KOTLIN)
	@chmod +x $(E2E_AGENT_KOTLIN)
	@echo "e2e-agent-kotlin: $(E2E_AGENT_KOTLIN)"
