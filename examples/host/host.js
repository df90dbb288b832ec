// The host page's glue: mount every card's widget with widgetgate's kit
// (loaded from the sidecar just before this file), show each widget's
// lifecycle state and the number of analytics events, and keep the clock.
(function () {
  'use strict';
  var sidecar = document.querySelector('meta[name="widgetgate-sidecar"]').getAttribute('content');
  // The page may set the kit's readyTimeout (ms); without it, the kit's default.
  var readyMeta = document.querySelector('meta[name="widgetgate-ready-timeout"]');
  var readyTimeout = readyMeta ? Number(readyMeta.getAttribute('content')) : undefined;

  function contextFor(widget, instance) {
    return function () {
      var url = 'context?widget=' + encodeURIComponent(widget) + '&instance=' + encodeURIComponent(instance);
      return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
        if (!res.ok) throw new Error('context for ' + widget + ': HTTP ' + res.status);
        return res.json();
      }).then(function (body) { return body.token; });
    };
  }

  // The footer counts the analytics events every widget raised.
  var analyticsCount = document.getElementById('analytics-count');
  var analyticsTotal = 0;
  function onAnalyticsEvent() {
    analyticsTotal++;
    analyticsCount.textContent = String(analyticsTotal);
  }

  // Each card's title shows its widget's lifecycle state (the kit shows a
  // skeleton in the card body until the widget is ready).
  function mountCard(card) {
    var widget = card.getAttribute('data-widget');
    var badge = card.querySelector('.card-state');
    window.WidgetGate.mount(card.querySelector('.card-body'), {
      sidecar: sidecar,
      widget: widget,
      title: card.getAttribute('data-title'),
      context: contextFor(widget, card.getAttribute('data-instance')),
      onAnalyticsEvent: onAnalyticsEvent,
      readyTimeout: readyTimeout,
      onLifecycle: function (state) {
        badge.textContent = state;
        badge.setAttribute('data-state', state);
      }
    });
  }

  var cards = document.querySelectorAll('.card[data-widget]');
  for (var i = 0; i < cards.length; i++) mountCard(cards[i]);

  var clock = document.getElementById('clock');
  function tick() {
    clock.textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  tick();
  setInterval(tick, 10000);
})();
