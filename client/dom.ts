// The chat page's elements, looked up once by main.ts (the only module that reads the
// document at start-up).

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} missing`);
  return found as T;
}

export function findUi() {
  return {
    chat: el<HTMLDivElement>("chat"),
    status: el<HTMLDivElement>("status"),
    rooms: el<HTMLUListElement>("rooms"),
    dms: el<HTMLUListElement>("dms"),
    joinForm: el<HTMLFormElement>("join-form"),
    joinInput: el<HTMLInputElement>("join-room"),
    joinError: el<HTMLParagraphElement>("join-error"),
    joinPrivate: el<HTMLInputElement>("join-private"),
    directory: el<HTMLDetailsElement>("directory"),
    directorySearch: el<HTMLInputElement>("directory-search"),
    directoryList: el<HTMLUListElement>("directory-list"),
    dmForm: el<HTMLFormElement>("dm-form"),
    dmInput: el<HTMLInputElement>("dm-user"),
    dmError: el<HTMLParagraphElement>("dm-error"),
    notify: el<HTMLButtonElement>("notify"),
    title: el<HTMLHeadingElement>("room-title"),
    manage: el<HTMLDetailsElement>("manage"),
    manageForm: el<HTMLFormElement>("manage-form"),
    manageUser: el<HTMLInputElement>("manage-user"),
    manageInvite: el<HTMLButtonElement>("manage-invite"),
    topicForm: el<HTMLFormElement>("topic-form"),
    topicText: el<HTMLInputElement>("topic-text"),
    manageNote: el<HTMLParagraphElement>("manage-note"),
    topic: el<HTMLParagraphElement>("room-topic"),
    leave: el<HTMLButtonElement>("leave-room"),
    members: el<HTMLUListElement>("members"),
    scroller: el<HTMLDivElement>("messages"),
    loadOlder: el<HTMLButtonElement>("load-older"),
    list: el<HTMLOListElement>("message-list"),
    empty: el<HTMLParagraphElement>("empty"),
    jump: el<HTMLButtonElement>("jump-latest"),
    typing: el<HTMLParagraphElement>("typing"),
    composer: el<HTMLFormElement>("composer"),
    text: el<HTMLTextAreaElement>("text"),
    attach: el<HTMLButtonElement>("attach"),
    attachInput: el<HTMLInputElement>("attach-input"),
    tray: el<HTMLUListElement>("attachments"),
    dropHint: el<HTMLDivElement>("drop-hint"),
    send: el<HTMLButtonElement>("send"),
    sendError: el<HTMLParagraphElement>("send-error"),
    suggest: el<HTMLUListElement>("mention-suggest"),
    drawerToggle: el<HTMLButtonElement>("drawer-toggle"),
    drawerBackdrop: el<HTMLDivElement>("drawer-backdrop"),
    connBanner: el<HTMLParagraphElement>("conn-banner"),
    signedOut: el<HTMLDivElement>("signed-out"),
    signedOutReason: el<HTMLParagraphElement>("signed-out-reason"),
    switcher: el<HTMLDivElement>("switcher"),
    switcherInput: el<HTMLInputElement>("switcher-input"),
    switcherList: el<HTMLUListElement>("switcher-list"),
    searchOpen: el<HTMLButtonElement>("search-open"),
    search: el<HTMLDivElement>("search"),
    searchForm: el<HTMLFormElement>("search-form"),
    searchInput: el<HTMLInputElement>("search-input"),
    searchStatus: el<HTMLParagraphElement>("search-status"),
    searchResults: el<HTMLUListElement>("search-results"),
    searchMore: el<HTMLButtonElement>("search-more"),
  };
}

export type Ui = ReturnType<typeof findUi>;

export function showError(target: HTMLElement, message: string): void {
  target.textContent = message;
  target.hidden = false;
}

export function clearError(target: HTMLElement): void {
  target.textContent = "";
  target.hidden = true;
}
