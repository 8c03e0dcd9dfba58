// For a creditor's page: <script src="https://ENGINE/static/widget-embed.js" data-case="LINK"
// async></script> shows the call back widget in a frame where the script is (the engine lets
// only the sites of its [widget] sites show it). data-case: the signed case link's token, when
// the page is for one debtor.
(() => {
  const script = document.currentScript;
  const engine = new URL(script.src).origin;
  const frame = document.createElement("iframe");
  const found = script.dataset.case ? `?case=${encodeURIComponent(script.dataset.case)}` : "";
  frame.src = `${engine}/widget/${found}`;
  frame.title = "Talk to us";
  frame.allow = "microphone; autoplay";  // "Call us now" speaks through the page
  frame.style.cssText = "border:0;width:100%;max-width:420px;height:460px";
  script.after(frame);
})();
