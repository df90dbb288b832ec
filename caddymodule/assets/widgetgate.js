// widgetgate.js — the browser kit; see README "Widget hosts".
