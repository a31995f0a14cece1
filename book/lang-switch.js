// The language switch: a link in the menu bar to the same page in the other edition. The English
// book is built into `book/`, the Chinese one into `book/zh-CN/` (`cargo xtask book --lang zh-CN`).
(function () {
    "use strict";
    const editions = { "en": { dir: "", label: "English" }, "zh-CN": { dir: "zh-CN/", label: "中文" } };
    const here = document.documentElement.lang in editions ? document.documentElement.lang : "en";
    const root = new URL(typeof path_to_root === "string" && path_to_root ? path_to_root : "./", window.location.href);
    if (!window.location.href.startsWith(root.href)) {
        return;
    }
    const page = window.location.href.slice(root.href.length);
    const top = editions[here].dir ? new URL("../", root) : root;
    const buttons = document.querySelector("#mdbook-menu-bar .right-buttons, .menu-bar .right-buttons");
    if (!buttons) {
        return;
    }
    for (const [code, edition] of Object.entries(editions)) {
        if (code === here) {
            continue;
        }
        const link = document.createElement("a");
        link.href = new URL(edition.dir + page, top).href;
        link.textContent = edition.label;
        link.lang = code;
        link.hreflang = code;
        link.title = code === "en" ? "Read this page in English" : "阅读本页的中文版";
        link.className = "lang-switch";
        link.style.marginInline = "0.6em";
        link.style.fontWeight = "bold";
        link.style.textDecoration = "none";
        buttons.prepend(link);
    }
})();
